import { HttpException } from '@nestjs/common';
import {
  AuthenticationRequiredError,
  AuthServerError,
  BearerError,
  InsufficientAccessError,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  type InvalidTokenReason,
} from './bearer.errors.js';

const REASONS: InvalidTokenReason[] = [
  'missing',
  'expired',
  'malformed',
  'too_long',
  'algorithm',
  'type',
  'unsupported_header',
  'unknown_key',
  'signature',
  'issuer',
  'audience',
  'not_yet_valid',
  'issued_in_future',
  'claims',
  'invalid',
];
// RFC 6750 section 3: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E ).
const RFC6750_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;

describe('bearer errors', () => {
  it("keeps Nest's message: the body's message, else the class name in words", () => {
    expect(new AuthenticationRequiredError().message).toBe(
      'Authentication is required.',
    );
    expect(new InvalidTokenError('expired').message).toBe(
      'Invalid Token Error',
    );
    // Worked out once per class: a second error of the class says the same.
    expect(new InvalidTokenError('malformed').message).toBe(
      'Invalid Token Error',
    );
    expect(new InsufficientAccessError().message).toBe(
      'Insufficient Access Error',
    );
    expect(new InvalidTokenError('expired').name).toBe('InvalidTokenError');
  });

  it('AuthenticationRequiredError: 401, no code, no description', () => {
    const error = new AuthenticationRequiredError();
    expect(error).toBeInstanceOf(BearerError);
    expect(error).toBeInstanceOf(HttpException);
    expect(error.getStatus()).toBe(401);
    expect(error.code).toBeUndefined();
    expect(error.description).toBeUndefined();
    expect(error.toBody()).toEqual({
      statusCode: 401,
      message: 'Authentication is required.',
    });
  });

  it('InvalidRequestError: 400 invalid_request with a default description', () => {
    const error = new InvalidRequestError();
    expect(error.getStatus()).toBe(400);
    expect(error.code).toBe('invalid_request');
    expect(error.toBody()).toEqual({
      statusCode: 400,
      error: 'invalid_request',
      error_description: 'The request is not well-formed.',
    });
  });

  it('InvalidRequestError takes a description', () => {
    const error = new InvalidRequestError('Sent twice.');
    expect(error.description).toBe('Sent twice.');
    expect(error.toBody().error_description).toBe('Sent twice.');
  });

  it('InvalidTokenError: the two texts fixed by the seed', () => {
    expect(new InvalidTokenError('missing').toBody()).toEqual({
      statusCode: 401,
      error: 'invalid_token',
      error_description: 'The access token is missing.',
    });
    expect(new InvalidTokenError('expired').description).toBe(
      'The access token is expired.',
    );
  });

  it('InvalidTokenError defaults to the reason "invalid"', () => {
    const error = new InvalidTokenError();
    expect(error.reason).toBe('invalid');
    expect(error.getStatus()).toBe(401);
    expect(error.description).toBe('The access token is invalid.');
  });

  it.each(REASONS)(
    'InvalidTokenError(%s) has a fixed, distinct, RFC 6750-safe description',
    (reason) => {
      const error = new InvalidTokenError(reason);
      expect(error.reason).toBe(reason);
      expect(error.code).toBe('invalid_token');
      expect(error.description).toMatch(RFC6750_TEXT);
      expect(error.description).toMatch(/^The access token .*\.$/);
      const others = REASONS.filter((r) => r !== reason).map(
        (r) => new InvalidTokenError(r).description,
      );
      expect(others).not.toContain(error.description);
    },
  );

  it('InsufficientScopeError: 403 with the required scopes in the body', () => {
    const error = new InsufficientScopeError(['read', 'write']);
    expect(error.getStatus()).toBe(403);
    expect(error.code).toBe('insufficient_scope');
    expect(error.scopes).toEqual(['read', 'write']);
    expect(error.toBody()).toEqual({
      statusCode: 403,
      error: 'insufficient_scope',
      error_description:
        'The access token does not grant the scope this resource requires.',
      scope: 'read write',
    });
  });

  it('InsufficientScopeError copies the scopes it is given', () => {
    const scopes = ['a'];
    const error = new InsufficientScopeError(scopes, 'Needs a.');
    scopes.push('b');
    expect(error.scopes).toEqual(['a']);
    expect(error.description).toBe('Needs a.');
  });

  it('InsufficientAccessError: 403 insufficient_access', () => {
    const error = new InsufficientAccessError();
    expect(error.getStatus()).toBe(403);
    expect(error.toBody()).toEqual({
      statusCode: 403,
      error: 'insufficient_access',
      error_description:
        'The subject of the access token does not have the permission this resource requires.',
    });
    expect(new InsufficientAccessError('Not your document.').description).toBe(
      'Not your document.',
    );
  });

  it('AuthServerError: 500 whose body never carries the internal reason', () => {
    const cause = new Error('connect ECONNREFUSED 10.0.0.1:443');
    const error = new AuthServerError('JWKS fetch failed: secret detail', {
      cause,
    });
    expect(error.getStatus()).toBe(500);
    expect(error.code).toBeUndefined();
    expect(error.internalReason).toBe('JWKS fetch failed: secret detail');
    expect(error.cause).toBe(cause);
    const body = error.toBody();
    expect(body).toEqual({
      statusCode: 500,
      message: 'An internal error occurred. The request may be retried.',
    });
    const text = JSON.stringify(body) + JSON.stringify(error.getResponse());
    expect(text).not.toContain('secret');
    expect(text).not.toContain('ECONNREFUSED');
  });

  it('AuthServerError without a cause has none', () => {
    expect(new AuthServerError('x').cause).toBeUndefined();
  });

  it('toBody returns a copy', () => {
    const error = new InvalidTokenError('expired');
    const body = error.toBody();
    body.error_description = 'changed';
    expect(error.toBody().error_description).toBe(
      'The access token is expired.',
    );
  });
});
