import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestSocket, TokenRequest } from '../token-extractor.js';
import { splitHttpUri } from './dpop-proof.js';
import {
  clientCertificateThumbprint,
  fromTrustedProxy,
  requestOrigins,
  type RequestBindingOptions,
} from './request-binding.js';
import { makeCertificate } from '../../test/support/certificates.js';

const PROXY = '10.0.0.2';
const NO_PROXY: RequestBindingOptions = {
  origins: undefined,
  trustedProxies: [],
  clientCertificateHeader: undefined,
};
const BEHIND_PROXY: RequestBindingOptions = {
  origins: undefined,
  trustedProxies: [PROXY, '2001:db8::2'],
  clientCertificateHeader: 'client-cert',
};

function requestFrom(
  socket: RequestSocket | undefined,
  headers: TokenRequest['headers'] = {},
): TokenRequest {
  return { method: 'GET', url: '/resource', headers, socket };
}

function socketAt(
  localAddress: string,
  localPort: number,
  extra: Partial<RequestSocket> = {},
): RequestSocket {
  return { remoteAddress: '192.0.2.7', localAddress, localPort, ...extra };
}

describe('fromTrustedProxy', () => {
  it.each([
    [PROXY, true],
    [`::ffff:${PROXY}`, true],
    ['2001:db8::2', true],
    ['10.0.0.3', false],
    ['::ffff:10.0.0.3', false],
  ])('says %s is trusted: %s', (remoteAddress, trusted) => {
    const request = requestFrom({ remoteAddress });
    expect(fromTrustedProxy(request, BEHIND_PROXY)).toBe(trusted);
  });

  it('trusts no request without a socket, nor any peer when no proxy is listed', () => {
    expect(fromTrustedProxy(requestFrom(undefined), BEHIND_PROXY)).toBe(false);
    expect(
      fromTrustedProxy(requestFrom({ remoteAddress: PROXY }), NO_PROXY),
    ).toBe(false);
  });
});

describe('requestOrigins', () => {
  describe('configured origins', () => {
    it('are the only ones, whatever the socket and the headers say', () => {
      const options = { ...BEHIND_PROXY, origins: ['https://api.example.com'] };
      const request = requestFrom(
        socketAt('10.0.0.5', 3000, { remoteAddress: PROXY }),
        {
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'evil.example.com',
        },
      );
      expect(requestOrigins(request, options)).toEqual([
        'https://api.example.com',
      ]);
    });
  });

  describe('behind a trusted proxy', () => {
    function forwarded(
      headers: TokenRequest['headers'],
      remoteAddress = PROXY,
    ): readonly string[] {
      return requestOrigins(
        requestFrom(socketAt('10.0.0.5', 3000, { remoteAddress }), headers),
        BEHIND_PROXY,
      );
    }

    it.each([
      [
        'the forwarded origin',
        'https',
        'api.example.com',
        'https://api.example.com',
      ],
      [
        'a forwarded port',
        'https',
        'api.example.com:8443',
        'https://api.example.com:8443',
      ],
      [
        'the default port dropped',
        'https',
        'api.example.com:443',
        'https://api.example.com',
      ],
      ['http', 'http', 'api.example.com:8080', 'http://api.example.com:8080'],
      [
        'the host in lower case',
        'https',
        'API.Example.COM',
        'https://api.example.com',
      ],
      [
        'the scheme in lower case',
        'HTTPS',
        'api.example.com',
        'https://api.example.com',
      ],
      [
        'the first of a list',
        'https, http',
        'api.example.com, other.example.com',
        'https://api.example.com',
      ],
      [
        'an IPv6 host',
        'https',
        '[2001:db8::1]:8443',
        'https://[2001:db8::1]:8443',
      ],
    ])('read %s', (_name, proto, host, origin) => {
      expect(
        forwarded({ 'x-forwarded-proto': proto, 'x-forwarded-host': host }),
      ).toEqual([origin]);
    });

    it('read the first value of a repeated header', () => {
      expect(
        forwarded({
          'x-forwarded-proto': ['https', 'http'],
          'x-forwarded-host': ['api.example.com', 'other.example.com'],
        }),
      ).toEqual(['https://api.example.com']);
    });

    it('are believed from an IPv4-mapped IPv6 peer', () => {
      expect(
        forwarded(
          {
            'x-forwarded-proto': 'https',
            'x-forwarded-host': 'api.example.com',
          },
          `::ffff:${PROXY}`,
        ),
      ).toEqual(['https://api.example.com']);
    });

    it.each([
      ['without X-Forwarded-Host', { 'x-forwarded-proto': 'https' }],
      ['without X-Forwarded-Proto', { 'x-forwarded-host': 'api.example.com' }],
      [
        'with another scheme',
        { 'x-forwarded-proto': 'ftp', 'x-forwarded-host': 'api.example.com' },
      ],
      [
        'with an empty host',
        { 'x-forwarded-proto': 'https', 'x-forwarded-host': ' ' },
      ],
    ])('fall back to the socket %s', (_name, headers) => {
      expect(forwarded(headers)).toEqual(['http://10.0.0.5:3000']);
    });

    it('are none when the forwarded host is not a host', () => {
      expect(
        forwarded({
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'api example com',
        }),
      ).toEqual([]);
    });

    it('are ignored from a peer that is not listed', () => {
      expect(
        forwarded(
          {
            'x-forwarded-proto': 'https',
            'x-forwarded-host': 'evil.example.com',
          },
          '10.0.0.3',
        ),
      ).toEqual(['http://10.0.0.5:3000']);
    });
  });

  describe('from the socket', () => {
    it.each([
      ['an IPv4 address', '10.0.0.5', 3000, false, ['http://10.0.0.5:3000']],
      ['TLS', '10.0.0.5', 8443, true, ['https://10.0.0.5:8443']],
      ['the default https port', '10.0.0.5', 443, true, ['https://10.0.0.5']],
      ['the default http port', '10.0.0.5', 80, false, ['http://10.0.0.5']],
      ['port 443 without TLS', '10.0.0.5', 443, false, ['http://10.0.0.5:443']],
      [
        'an IPv6 address',
        '2001:db8::1',
        3000,
        false,
        ['http://[2001:db8::1]:3000'],
      ],
      [
        'the IPv6 loopback',
        '::1',
        3000,
        false,
        ['http://[::1]:3000', 'http://localhost:3000'],
      ],
      [
        'the IPv4 loopback',
        '127.0.0.1',
        3000,
        false,
        ['http://127.0.0.1:3000', 'http://localhost:3000'],
      ],
      [
        'another IPv4 loopback address over TLS',
        '127.0.0.2',
        443,
        true,
        ['https://127.0.0.2', 'https://localhost'],
      ],
      [
        'an IPv4-mapped loopback',
        '::ffff:127.0.0.1',
        3000,
        false,
        ['http://127.0.0.1:3000', 'http://localhost:3000'],
      ],
      [
        'an IPv4-mapped address',
        '::ffff:10.0.0.5',
        3000,
        false,
        ['http://10.0.0.5:3000'],
      ],
    ])('name %s', (_name, address, port, encrypted, origins) => {
      const request = requestFrom(socketAt(address, port, { encrypted }));
      expect(requestOrigins(request, NO_PROXY)).toEqual(origins);
    });

    it('are what splitHttpUri finds in a URI for the same address', () => {
      for (const [address, uri] of [
        ['::1', 'http://[::1]:3000/a'],
        ['::1', 'http://LOCALHOST:3000/a'],
        ['2001:db8::1', 'http://[2001:DB8:0::1]:3000/a'],
        ['::ffff:127.0.0.1', 'http://127.0.0.1:3000/a'],
      ]) {
        const origins = requestOrigins(
          requestFrom(socketAt(address, 3000)),
          NO_PROXY,
        );
        expect(origins).toContain(splitHttpUri(uri)?.origin);
      }
    });

    it('never read the Host header', () => {
      const request = requestFrom(socketAt('10.0.0.5', 3000), {
        host: 'api.example.com',
      });
      expect(requestOrigins(request, NO_PROXY)).toEqual([
        'http://10.0.0.5:3000',
      ]);
    });

    it('are none without a socket, an address or a port', () => {
      expect(requestOrigins(requestFrom(undefined), NO_PROXY)).toEqual([]);
      expect(
        requestOrigins(requestFrom({ localPort: 3000 }), NO_PROXY),
      ).toEqual([]);
      expect(
        requestOrigins(requestFrom({ localAddress: '10.0.0.5' }), NO_PROXY),
      ).toEqual([]);
    });

    it('are none, without a throw, for a link-local address with a zone', () => {
      // Node writes the interface of a link-local address ("fe80::1%eth0"), which no
      // URL can hold, so no htu can name it.
      const request = requestFrom(socketAt('fe80::1%eth0', 3000));
      expect(requestOrigins(request, NO_PROXY)).toEqual([]);
    });
  });
});

describe('clientCertificateThumbprint', () => {
  let dir: string;
  /** Two self-signed certificates: PEM text, DER bytes, and openssl's own SHA-256 thumbprint. */
  const certificates: { pem: string; der: Buffer; thumbprint: string }[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-bearer-mtls-'));
    for (const name of ['alice', 'bob']) {
      // Made by openssl; the thumbprint below is openssl's too, not the code under test's.
      makeCertificate(dir, name);
      const pemPath = join(dir, `${name}.crt`);
      execFileSync(
        'openssl',
        [
          'x509',
          '-in',
          pemPath,
          '-outform',
          'DER',
          '-out',
          join(dir, `${name}.der`),
        ],
        { stdio: 'pipe' },
      );
      const fingerprint = execFileSync(
        'openssl',
        ['x509', '-in', pemPath, '-noout', '-fingerprint', '-sha256'],
        { encoding: 'utf8' },
      );
      const hex = fingerprint.split('=')[1].trim().replaceAll(':', '');
      certificates.push({
        pem: readFileSync(pemPath, 'utf8'),
        der: readFileSync(join(dir, `${name}.der`)),
        thumbprint: Buffer.from(hex, 'hex').toString('base64url'),
      });
    }
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function tlsSocket(
    certificate: unknown,
    remoteAddress = '192.0.2.7',
  ): RequestSocket {
    return {
      remoteAddress,
      encrypted: true,
      getPeerCertificate: () => certificate as object,
    };
  }

  describe('from the TLS connection', () => {
    it('is the SHA-256 of the DER bytes of the peer certificate', () => {
      const [alice, bob] = certificates;
      expect(alice.thumbprint).not.toBe(bob.thumbprint);
      for (const { der, thumbprint } of certificates) {
        const request = requestFrom(tlsSocket({ raw: der }));
        expect(clientCertificateThumbprint(request, NO_PROXY)).toBe(thumbprint);
      }
    });

    it.each([
      ['no certificate ({})', {}],
      ['null', null],
      ['a raw that is not a Buffer', { raw: 'MIIB' }],
    ])('is undefined with %s', (_name, certificate) => {
      const request = requestFrom(tlsSocket(certificate));
      expect(clientCertificateThumbprint(request, NO_PROXY)).toBeUndefined();
    });

    it('is undefined on a plain socket or without one', () => {
      expect(
        clientCertificateThumbprint(
          requestFrom(socketAt('10.0.0.5', 80)),
          NO_PROXY,
        ),
      ).toBeUndefined();
      expect(
        clientCertificateThumbprint(requestFrom(undefined), NO_PROXY),
      ).toBeUndefined();
    });

    it('asks for the certificate alone, not the chain', () => {
      const calls: unknown[] = [];
      const request = requestFrom({
        getPeerCertificate: (detailed?: boolean) => {
          calls.push(detailed);
          return { raw: certificates[0].der };
        },
      });
      clientCertificateThumbprint(request, NO_PROXY);
      expect(calls).toEqual([false]);
    });
  });

  describe('from the header of a trusted proxy', () => {
    function viaProxy(
      value: string | string[] | undefined,
      remoteAddress = PROXY,
      socketCertificate?: Buffer,
    ): string | undefined {
      const request = requestFrom(
        tlsSocket(
          socketCertificate === undefined ? {} : { raw: socketCertificate },
          remoteAddress,
        ),
        { 'client-cert': value },
      );
      return clientCertificateThumbprint(request, BEHIND_PROXY);
    }

    it('reads the RFC 9440 form (:base64 DER:)', () => {
      const [alice] = certificates;
      expect(viaProxy(`:${alice.der.toString('base64')}:`)).toBe(
        alice.thumbprint,
      );
      expect(viaProxy(`  :${alice.der.toString('base64')}:  `)).toBe(
        alice.thumbprint,
      );
    });

    it('reads a URL-encoded PEM', () => {
      for (const { pem, thumbprint } of certificates) {
        expect(viaProxy(encodeURIComponent(pem))).toBe(thumbprint);
      }
    });

    it('reads a plain PEM', () => {
      const [alice] = certificates;
      expect(viaProxy(alice.pem)).toBe(alice.thumbprint);
    });

    it('reads the first of repeated headers', () => {
      const [alice, bob] = certificates;
      expect(
        viaProxy([
          `:${alice.der.toString('base64')}:`,
          `:${bob.der.toString('base64')}:`,
        ]),
      ).toBe(alice.thumbprint);
    });

    it('is believed from an IPv4-mapped address of the proxy', () => {
      const [alice] = certificates;
      expect(
        viaProxy(`:${alice.der.toString('base64')}:`, `::ffff:${PROXY}`),
      ).toBe(alice.thumbprint);
    });

    it.each([
      ['empty', ''],
      ['colons only', '::'],
      ['not a certificate', ':bm90IGEgY2VydGlmaWNhdGU=:'],
      [
        'garbage PEM',
        '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----',
      ],
      ['a bad percent escape', '%E0%A4%A'],
    ])('is undefined when the header is %s', (_name, value) => {
      expect(viaProxy(value)).toBeUndefined();
    });

    it('is undefined when the header is missing, even with a certificate on the socket', () => {
      // The socket's certificate is the proxy's own, never the client's.
      expect(viaProxy(undefined, PROXY, certificates[1].der)).toBeUndefined();
    });

    it('is ignored from a peer that is not listed, which gets the certificate of its socket', () => {
      const [alice, bob] = certificates;
      expect(
        viaProxy(`:${alice.der.toString('base64')}:`, '10.0.0.3', bob.der),
      ).toBe(bob.thumbprint);
      expect(
        viaProxy(`:${alice.der.toString('base64')}:`, '10.0.0.3'),
      ).toBeUndefined();
    });

    it('is ignored when no header is configured', () => {
      const [alice] = certificates;
      const request = requestFrom(tlsSocket({}, PROXY), {
        'client-cert': `:${alice.der.toString('base64')}:`,
      });
      expect(
        clientCertificateThumbprint(request, {
          ...BEHIND_PROXY,
          clientCertificateHeader: undefined,
        }),
      ).toBeUndefined();
    });
  });
});
