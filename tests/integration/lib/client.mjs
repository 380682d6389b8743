// The `dicomweb-client` npm package in node: it speaks XMLHttpRequest, which node lacks,
// so the `xhr2` polyfill provides it.
import XMLHttpRequest from 'xhr2';
import dicomweb from 'dicomweb-client';

if (!globalThis.XMLHttpRequest) globalThis.XMLHttpRequest = XMLHttpRequest;

export function dicomwebClient(server, token) {
  const { DICOMwebClient } = dicomweb.api ?? dicomweb;
  return new DICOMwebClient({
    url: server.dicomweb,
    headers: { Authorization: `Bearer ${token}` },
    verbose: false,
  });
}
