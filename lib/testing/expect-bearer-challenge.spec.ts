import {
  BearerChallengeAssertionError,
  expectBearerChallenge,
  type SupertestLikeResponse,
} from './expect-bearer-challenge.js';

const SCOPE_CHALLENGE =
  'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the scope this resource requires.", scope="documents.read documents.write"';
const SCOPE_BODY = {
  statusCode: 403,
  error: 'insufficient_scope',
  error_description:
    'The access token does not grant the scope this resource requires.',
  scope: 'documents.read documents.write',
};

/** A supertest-shaped response: headers as an object, the body parsed. */
function supertestResponse(
  status: number,
  challenge: string | string[] | undefined,
  body: unknown,
): SupertestLikeResponse {
  return {
    status,
    headers: { 'www-authenticate': challenge },
    body,
    text: JSON.stringify(body),
  };
}

function fetchResponse(
  status: number,
  challenge: string | undefined,
  body: string,
): Response {
  const headers = new Headers({ 'content-type': 'application/json' });
  if (challenge !== undefined) headers.set('www-authenticate', challenge);
  return new Response(body, { status, headers });
}

/** The problems of the assertion error `promise` rejects with. */
async function problemsOf(promise: Promise<unknown>): Promise<string[]> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof BearerChallengeAssertionError)) {
    throw new Error(
      `expected a BearerChallengeAssertionError, got ${String(error)}`,
    );
  }
  return [...error.problems];
}

describe('expectBearerChallenge', () => {
  it('passes a matching supertest response and resolves to the challenge', async () => {
    const challenge = await expectBearerChallenge(
      supertestResponse(403, SCOPE_CHALLENGE, SCOPE_BODY),
      {
        status: 403,
        error: 'insufficient_scope',
        errorDescription:
          'The access token does not grant the scope this resource requires.',
        scope: ['documents.write', 'documents.read'],
        params: { realm: 'api', resource_id: undefined },
      },
    );
    expect(challenge.scheme).toBe('Bearer');
    expect(challenge.params.realm).toBe('api');
  });

  it('passes a matching fetch Response and leaves its body readable', async () => {
    const res = fetchResponse(403, SCOPE_CHALLENGE, JSON.stringify(SCOPE_BODY));
    await expectBearerChallenge(res, {
      status: 403,
      error: 'insufficient_scope',
      scope: 'documents.read documents.write',
    });
    expect(await res.json()).toEqual(SCOPE_BODY);
  });

  it('treats a left-out error as "no credentials": the challenge must carry none', async () => {
    await expectBearerChallenge(
      supertestResponse(401, 'Bearer realm="api"', {
        statusCode: 401,
        message: 'Authentication is required.',
      }),
      { status: 401 },
    );
    expect(
      await problemsOf(
        expectBearerChallenge(
          supertestResponse(401, 'Bearer error="invalid_token"', {
            statusCode: 401,
            error: 'invalid_token',
          }),
          { status: 401 },
        ),
      ),
    ).toEqual(['error: expected none (no credentials), got "invalid_token"']);
  });

  it('reads a null field of the body as no value', async () => {
    await expectBearerChallenge(
      supertestResponse(401, 'Bearer realm="api"', {
        statusCode: 401,
        error: null,
        error_description: null,
      }),
      { status: 401 },
    );
  });

  it('finds the Bearer challenge among several, in one field or in several', async () => {
    const body = { statusCode: 401, error: 'invalid_token' };
    await expectBearerChallenge(
      supertestResponse(
        401,
        'DPoP algs="ES256", Bearer error="invalid_token"',
        body,
      ),
      { status: 401, error: 'invalid_token' },
    );
    await expectBearerChallenge(
      supertestResponse(
        401,
        ['DPoP algs="ES256"', 'bearer error="invalid_token"'],
        body,
      ),
      { status: 401, error: 'invalid_token' },
    );
  });

  it('lists every mismatch in one error, with the response for context', async () => {
    const promise = expectBearerChallenge(
      supertestResponse(401, 'Bearer error="invalid_token", scope="a"', {
        statusCode: 401,
        error: 'invalid_token',
        scope: 'a',
      }),
      {
        status: 403,
        error: 'insufficient_scope',
        errorDescription: 'x',
        scope: 'b',
        params: { realm: 'api' },
      },
    );
    await expect(promise).rejects.toThrow(
      /5 mismatches[\s\S]*WWW-Authenticate: Bearer error="invalid_token"/,
    );
    expect(await problemsOf(promise)).toEqual([
      'status: expected 403, got 401',
      'error: expected "insufficient_scope", got "invalid_token"',
      'error_description: expected "x", got nothing',
      'scope: expected "b", got "a"',
      'realm: expected "api", got nothing',
    ]);
  });

  it('fails without a Bearer challenge', async () => {
    expect(
      await problemsOf(
        expectBearerChallenge(supertestResponse(401, undefined, {}), {
          status: 401,
        }),
      ),
    ).toEqual(['no WWW-Authenticate field']);
    expect(
      await problemsOf(
        expectBearerChallenge(fetchResponse(401, 'Basic realm="x"', '{}'), {
          status: 401,
        }),
      ),
    ).toEqual(['WWW-Authenticate holds no Bearer challenge']);
    expect(
      await problemsOf(
        expectBearerChallenge(fetchResponse(401, 'Bearer error="x', '{}'), {
          status: 401,
        }),
      ),
    ).toEqual(['WWW-Authenticate does not parse (unterminated quoted-string)']);
  });

  it('fails on a repeated parameter', async () => {
    expect(
      await problemsOf(
        expectBearerChallenge(
          supertestResponse(401, 'Bearer realm="a", realm="b"', {}),
          { status: 401 },
        ),
      ),
    ).toEqual(['parameters given more than once: realm']);
  });

  it('fails when the body does not mirror the challenge', async () => {
    expect(
      await problemsOf(
        expectBearerChallenge(
          supertestResponse(403, SCOPE_CHALLENGE, {
            ...SCOPE_BODY,
            error: 'insufficient_access',
            scope: undefined,
          }),
          { status: 403, error: 'insufficient_scope' },
        ),
      ),
    ).toEqual([
      'body.error: "insufficient_access", but the challenge says "insufficient_scope"',
      'body.scope: nothing, but the challenge says "documents.read documents.write"',
    ]);
    expect(
      await problemsOf(
        expectBearerChallenge(fetchResponse(401, 'Bearer', 'not json'), {
          status: 401,
        }),
      ),
    ).toEqual(['body: not JSON']);
    expect(
      await problemsOf(
        expectBearerChallenge(fetchResponse(401, 'Bearer', '[]'), {
          status: 401,
        }),
      ),
    ).toEqual(['body: not a JSON object']);
  });

  it('reads the text of a supertest response, whose body is {} for unparsed types', async () => {
    await expectBearerChallenge(
      {
        status: 401,
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
        body: {},
        text: '{"error":"invalid_token"}',
      },
      { status: 401, error: 'invalid_token' },
    );
    // Without text (a custom parser), the parsed body is used.
    await expectBearerChallenge(
      {
        status: 401,
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
        body: { error: 'invalid_token' },
      },
      { status: 401, error: 'invalid_token' },
    );
  });

  it('skips the body with body: false, and says so when a fetch body was read', async () => {
    const res = fetchResponse(401, 'Bearer', 'not json');
    await res.text();
    expect(
      await problemsOf(expectBearerChallenge(res, { status: 401 })),
    ).toEqual(['body: already read; pass a fresh response or { body: false }']);
    await expectBearerChallenge(res, { status: 401, body: false });
  });
});
