// tlsCipherSuites naming a suite k6 does not know: an options error, exit 104, before any
// iteration (k6: unknown cipher suite 'TLS_NOT_A_SUITE').
import http from 'k6/http';

export const options = {
  insecureSkipTLSVerify: true,
  tlsCipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_NOT_A_SUITE'],
};

export default function () {
  http.get(`${__ENV.HTTPS_TLS12_URL}/hello`);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
