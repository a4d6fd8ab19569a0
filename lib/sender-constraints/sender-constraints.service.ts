import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { RESOLVED_AUTH_OPTIONS } from '../auth.constants.js';
import type { ResolvedAuthOptions } from '../auth-options.js';
import {
  BearerAuthenticator,
  type CredentialRequest,
  type VerificationDetails,
} from '../bearer-authenticator.service.js';
import {
  AuthServerError,
  InvalidDpopProofError,
  InvalidTokenError,
  UseDpopNonceError,
} from '../bearer.errors.js';
import {
  readConfirmation,
  readOwnClaim,
  type BearerPrincipal,
} from '../claims.js';
import { BearerRevocations } from '../revocation/bearer-revocations.service.js';
import { MemoryRevocationStore } from '../revocation/memory-revocation.store.js';
import type { RevocationStore } from '../revocation/revocation-store.js';
import { DpopNonces } from './dpop-nonce.js';
import { normalizePath, verifyDpopProof } from './dpop-proof.js';
import {
  clientCertificateThumbprint,
  requestOrigins,
  type RequestBindingOptions,
} from './request-binding.js';

/** The `DPoP` header values of a request: every field, so a repeated one is seen. */
function dpopHeaders(request: CredentialRequest | undefined): string[] {
  if (request === undefined) return [];
  const raw = request.rawHeaders;
  if (raw !== undefined) {
    const values: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (raw[i].length === 4 && raw[i].toLowerCase() === 'dpop') {
        values.push(raw[i + 1]);
      }
    }
    return values;
  }
  const value = request.headers.dpop;
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * Sender-constrained tokens, checked after every verification (the authenticator's hook),
 * on the cached and the fresh path alike:
 *
 * - a token bound to a client certificate (`cnf["x5t#S256"]`, RFC 8705 section 3) needs
 *   that certificate on the request: the TLS connection's, or a trusted proxy's header;
 * - a token bound to a DPoP key (`cnf.jkt`, RFC 9449 section 6) is never a Bearer token;
 * - a `cnf` that binds the token by neither (RFC 7800's `jwk`, `jwe`, `jku`, `kid`), or
 *   that is not an object, is refused: the binding cannot be checked, so it fails closed;
 * - a token sent with the DPoP scheme needs one valid proof (RFC 9449 section 4.3) by the
 *   key it is bound to, made for this request, with the server's nonce when nonces are
 *   on, and never seen before: `jti`s are kept in the revocation store (shared by every
 *   instance on Redis), else in this process's memory, for the proof's lifetime.
 */
@Injectable()
export class SenderConstraints implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('nestjs-bearer');
  private readonly binding: RequestBindingOptions;
  private readonly nonces: DpopNonces | undefined;
  private replayStore: RevocationStore | undefined;
  private ownedStore: MemoryRevocationStore | undefined;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly authenticator: BearerAuthenticator,
    private readonly revocations: BearerRevocations,
  ) {
    this.binding = {
      origins: options.dpop.origins,
      trustedProxies: options.trustedProxies,
      clientCertificateHeader: options.clientCertificateHeader,
    };
    const nonce = options.dpop.nonce;
    this.nonces =
      nonce === undefined
        ? undefined
        : new DpopNonces(nonce.secret, nonce.lifetime);
  }

  onModuleInit(): void {
    this.authenticator.addVerificationHook(this.check);
    if (this.options.dpop.mode === 'off') return;
    this.replayStore = this.revocations.store;
    if (this.replayStore === undefined) {
      this.ownedStore = new MemoryRevocationStore();
      this.replayStore = this.ownedStore;
    }
    if (this.options.dpop.origins === undefined) {
      this.logger.log(
        'DPoP proofs must name the origin of the address the API listens on; set dpop.origins (or trustedProxies) when clients reach it by another name.',
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.ownedStore?.close();
  }

  /** The DPoP nonce clients should use now, when nonces are on. */
  currentNonce(): string | undefined {
    return this.nonces?.current();
  }

  private readonly check = (
    principal: BearerPrincipal,
    details: VerificationDetails,
  ): void | Promise<void> => {
    const cnf = readConfirmation(principal.claims);
    // RFC 7800: a token bound by a method not enforced here (`jwk`, `jwe`, `jku`, `kid`),
    // or by no method at all, is refused: accepting it as a bearer token drops the binding.
    if (
      cnf === null ||
      (cnf !== undefined &&
        !(Object.hasOwn(cnf, 'jkt') || Object.hasOwn(cnf, 'x5t#S256')))
    ) {
      throw new InvalidTokenError('unsupported_binding');
    }
    const certificate =
      cnf === undefined ? undefined : readOwnClaim(cnf, 'x5t#S256');
    if (
      certificate !== undefined &&
      (typeof certificate !== 'string' ||
        details.request === undefined ||
        clientCertificateThumbprint(details.request, this.binding) !==
          certificate)
    ) {
      throw new InvalidTokenError('certificate_bound');
    }
    const jkt = cnf === undefined ? undefined : readOwnClaim(cnf, 'jkt');
    // Profile fapi2: a token bound to nothing is never enough.
    if (
      this.options.requireSenderConstraint &&
      certificate === undefined &&
      jkt === undefined
    ) {
      throw new InvalidTokenError('not_sender_constrained');
    }
    if (details.scheme === 'Bearer') {
      if (jkt !== undefined) throw new InvalidTokenError('dpop_bound');
      return;
    }
    if (typeof jkt !== 'string' || jkt === '') {
      throw new InvalidTokenError('not_dpop_bound');
    }
    return this.checkProof(jkt, details);
  };

  /** RFC 9449 section 7.1: the proof, its key binding, the nonce, then the replay. */
  private checkProof(
    jkt: string,
    details: VerificationDetails,
  ): void | Promise<void> {
    const { request } = details;
    const proofs = dpopHeaders(request);
    if (proofs.length === 0) throw new InvalidDpopProofError('missing');
    if (proofs.length > 1) throw new InvalidDpopProofError('multiple');
    const path = normalizePath(request?.url ?? '');
    if (request === undefined || path === undefined) {
      throw new InvalidDpopProofError('uri');
    }
    const { dpop, clockTolerance } = this.options;
    const now = Date.now() / 1000;
    const proof = verifyDpopProof(proofs[0].trim(), {
      method: (request.method ?? '').toUpperCase(),
      path,
      origins: requestOrigins(request, this.binding),
      accessToken: details.token,
      algorithms: dpop.algorithms,
      now,
      maxAge: dpop.iatWindow,
      clockTolerance,
    });
    if (proof.jkt !== jkt) throw new InvalidDpopProofError('key_binding');
    const nonces = this.nonces;
    if (nonces !== undefined) {
      const standing = nonces.check(proof.nonce);
      if (standing === 'invalid') throw new UseDpopNonceError(nonces.current());
      // RFC 9449 section 8.2: the next nonce rides on a successful response.
      if (standing === 'previous') {
        details.responseHeaders['DPoP-Nonce'] = nonces.current();
      }
    }
    const store = this.replayStore;
    if (store === undefined) {
      throw new AuthServerError('the DPoP replay cache is not ready');
    }
    // A proof stays acceptable until iat + window + tolerance: the jti is kept as long.
    const expiresAt = Math.ceil(
      proof.iat + dpop.iatWindow + 2 * clockTolerance,
    );
    const key = `dpop:${jkt}:${proof.jti}`;
    const unavailable = (error: unknown): never => {
      throw new AuthServerError('the DPoP replay cache cannot answer', {
        cause: error,
      });
    };
    // The memory store answers at once, so the request stays on the synchronous path.
    if (store.addIfAbsentNow !== undefined) {
      let fresh: boolean;
      try {
        fresh = store.addIfAbsentNow(key, expiresAt);
      } catch (error) {
        return unavailable(error);
      }
      if (!fresh) throw new InvalidDpopProofError('replayed');
      return;
    }
    return store.addIfAbsent(key, expiresAt).then((fresh) => {
      if (!fresh) throw new InvalidDpopProofError('replayed');
    }, unavailable);
  }
}
