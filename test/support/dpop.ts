/**
 * A DPoP client key for tests: real key pairs (jose), real proofs (RFC 9449 section 4.2),
 * and every field overridable so a test can break exactly one rule.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type JWK,
} from 'jose';

/** What a proof is made for, and what a test wants to break. */
export interface ProofOptions {
  htm: string;
  htu: string;
  /** The access token, for `ath`. */
  token?: string;
  nonce?: string;
  /** `iat` in epoch seconds; default now. */
  iat?: number;
  jti?: string;
  /** Merged over the claims; `undefined` removes one. */
  claims?: Record<string, unknown>;
  /** Merged over the header; `undefined` removes one. */
  header?: Record<string, unknown>;
}

/** base64url(SHA-256(token)). */
export function ath(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function withoutUndefined(
  object: Record<string, unknown>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(object).filter(([, value]) => value !== undefined),
  );
}

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** A client's DPoP key pair. */
export class DpopKey {
  private constructor(
    readonly alg: string,
    private readonly privateKey: PrivateKey,
    /** The public JWK, as a proof carries it. */
    readonly jwk: JWK,
    /** Its RFC 7638 thumbprint: the `cnf.jkt` of a token bound to it. */
    readonly jkt: string,
  ) {}

  static async create(alg = 'ES256'): Promise<DpopKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, {
      extractable: true,
    });
    const full = await exportJWK(publicKey);
    const jwk: JWK = Object.fromEntries(
      Object.entries(full).filter(([name]) =>
        ['kty', 'crv', 'x', 'y', 'n', 'e'].includes(name),
      ),
    );
    return new DpopKey(alg, privateKey, jwk, await calculateJwkThumbprint(jwk));
  }

  /** A signed proof. */
  proof(options: ProofOptions): Promise<string> {
    const claims = withoutUndefined({
      jti: options.jti ?? randomUUID(),
      htm: options.htm,
      htu: options.htu,
      iat: options.iat ?? Math.floor(Date.now() / 1000),
      ...(options.token !== undefined && { ath: ath(options.token) }),
      ...(options.nonce !== undefined && { nonce: options.nonce }),
      ...options.claims,
    });
    const header = withoutUndefined({
      typ: 'dpop+jwt',
      alg: this.alg,
      jwk: this.jwk,
      ...options.header,
    });
    return new SignJWT(claims)
      .setProtectedHeader(header as { alg: string })
      .sign(this.privateKey);
  }

  /** `Authorization: DPoP <token>` and `DPoP: <proof>` for one request. */
  async headers(
    token: string,
    options: ProofOptions,
  ): Promise<Record<string, string>> {
    return {
      authorization: `DPoP ${token}`,
      dpop: await this.proof({ token, ...options }),
    };
  }
}
