/**
 * Self-signed P-256 certificates for mutual-TLS tests, made by the openssl command line in
 * a folder the caller owns.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A key and its certificate. */
export interface TestCertificate {
  key: Buffer;
  /** The certificate as PEM. */
  cert: Buffer;
  der: Buffer;
  /** base64url SHA-256 of the DER: the `x5t#S256` of RFC 8705 section 3.1. */
  thumbprint: string;
}

/** Makes `<dir>/<name>.key` and `<dir>/<name>.crt` (CN and IP SAN 127.0.0.1), valid a day. */
export function makeCertificate(dir: string, name: string): TestCertificate {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(certFile);
  const der = new X509Certificate(cert).raw;
  return {
    key: readFileSync(keyFile),
    cert,
    der,
    thumbprint: createHash('sha256').update(der).digest('base64url'),
  };
}
