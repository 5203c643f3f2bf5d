// Imported first by main.ts: libuv's threadpool (default 4) serves fs reads of /proc AND getaddrinfo; a few DNS
// lookups that hang (a service without tasks on an internal overlay network) must not starve host collection.
// The pool is created lazily on first use, so setting this before any fs/dns call takes effect.
process.env.UV_THREADPOOL_SIZE ??= '16';
export {};
