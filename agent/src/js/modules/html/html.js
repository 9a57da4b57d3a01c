// The `k6/html` module: parseHTML and k6's Selection API (made once per VU, in api.js).
const H = globalThis.__volley.htmlApi();

export const parseHTML = H.parseHTML;

export default { parseHTML };
