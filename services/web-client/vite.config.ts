import { defineConfig } from 'vite';

// Output layout NGINX relies on: dist/index.html served at "/", every other file under dist/static/
// with a content hash in its name (served with `expires 365d`), so a deploy never serves a stale asset.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'static',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2020',
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run dev` proxies the API to a locally running forum-api (FORUM_API_URL, default :8000).
    proxy: {
      '/api': process.env.FORUM_API_URL ?? 'http://127.0.0.1:8000',
      '/logout': process.env.FORUM_API_URL ?? 'http://127.0.0.1:8000',
    },
  },
});
