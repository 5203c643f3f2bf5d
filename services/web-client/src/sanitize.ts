// The API already renders posts to sanitized HTML; this allow-list pass is defence in depth so a
// server bug can never turn a post into script in the reader's browser.
const ALLOWED = new Set([
  'P',
  'BR',
  'STRONG',
  'B',
  'EM',
  'I',
  'CODE',
  'PRE',
  'BLOCKQUOTE',
  'UL',
  'OL',
  'LI',
  'A',
  'H1',
  'H2',
  'H3',
  'H4',
  'H5',
  'H6',
  'HR',
  'DEL',
  'S',
  'SPAN',
]);

export function sanitizeHtml(html: string): DocumentFragment {
  const doc = new DOMParser().parseFromString(`<body>${html}</body>`, 'text/html');
  const out = document.createDocumentFragment();
  const copy = (src: Node, dst: Node): void => {
    for (const child of Array.from(src.childNodes)) {
      if (child.nodeType === Node.TEXT_NODE) {
        dst.appendChild(document.createTextNode(child.textContent ?? ''));
      } else if (child.nodeType === Node.ELEMENT_NODE) {
        const el = child as Element;
        if (!ALLOWED.has(el.tagName)) {
          if (el.tagName !== 'SCRIPT' && el.tagName !== 'STYLE') copy(el, dst);
          continue;
        }
        const clean = document.createElement(el.tagName.toLowerCase());
        if (el.tagName === 'A') {
          const href = el.getAttribute('href') ?? '';
          if (/^(https?:|\/|#)/i.test(href)) clean.setAttribute('href', href);
          clean.setAttribute('rel', 'nofollow noopener');
        }
        copy(el, clean);
        dst.appendChild(clean);
      }
    }
  };
  copy(doc.body, out);
  return out;
}
