import {
  checkClaimPath,
  createPrincipal,
  isApplicationToken,
  readClaimPath,
  readOwnClaim,
  readRoles,
  readScopes,
  type JwtClaims,
} from './claims.js';

const SCOPE_CLAIMS = ['scp', 'scope'];
const NAMES = { scopeClaims: SCOPE_CLAIMS, roleClaim: 'roles' };

describe('readOwnClaim', () => {
  it('reads an own property', () => {
    expect(readOwnClaim({ sub: 'a' }, 'sub')).toBe('a');
  });

  it('answers undefined for a missing claim', () => {
    expect(readOwnClaim({}, 'sub')).toBeUndefined();
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'answers undefined for the inherited %s',
    (name) => {
      expect(readOwnClaim({}, name)).toBeUndefined();
    },
  );

  it('reads an own "__proto__" of a JSON.parse\'d payload as data', () => {
    const claims = JSON.parse('{"__proto__":["Admin"]}') as JwtClaims;
    expect(readOwnClaim(claims, '__proto__')).toEqual(['Admin']);
  });
});

describe('readScopes', () => {
  it('splits a space-separated scp string', () => {
    expect(readScopes({ scp: 'read write' }, SCOPE_CLAIMS)).toEqual([
      'read',
      'write',
    ]);
  });

  it('ignores empty parts of a string with extra spaces', () => {
    expect(readScopes({ scope: '  read   write ' }, SCOPE_CLAIMS)).toEqual([
      'read',
      'write',
    ]);
  });

  it('reads an scp array, keeping only non-empty strings', () => {
    expect(
      readScopes(
        { scp: ['read', '', 7, null, { x: 1 }, 'write'] },
        SCOPE_CLAIMS,
      ),
    ).toEqual(['read', 'write']);
  });

  it('does not split the entries of an array', () => {
    expect(readScopes({ scp: ['read write'] }, SCOPE_CLAIMS)).toEqual([
      'read write',
    ]);
  });

  it('joins scp and scope, without duplicates, scp first', () => {
    expect(readScopes({ scp: 'a b', scope: 'b c' }, SCOPE_CLAIMS)).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('drops duplicates from short and long lists alike, first occurrences in order', () => {
    // Up to 16 names are compared one by one, a longer list goes through a Set.
    for (const size of [3, 16, 17, 40]) {
      const names = Array.from({ length: size }, (_, i) => `s${i}`);
      const repeated = [...names, ...names.slice().reverse()];
      expect(
        readScopes({ scp: repeated.join(' '), scope: names }, SCOPE_CLAIMS),
      ).toEqual(names);
      expect(readRoles({ roles: repeated }, 'roles')).toEqual(names);
    }
    expect(readScopes({ scp: 'b a b a c' }, SCOPE_CLAIMS)).toEqual([
      'b',
      'a',
      'c',
    ]);
  });

  it('reads only the configured claim names', () => {
    expect(readScopes({ scp: 'a', perms: 'b' }, ['perms'])).toEqual(['b']);
    expect(readScopes({ scp: 'a' }, [])).toEqual([]);
  });

  it.each([
    ['a number', 42],
    ['an object', { read: true }],
    ['null', null],
    ['a boolean', true],
  ])('grants nothing for %s', (_what, value) => {
    expect(readScopes({ scp: value }, SCOPE_CLAIMS)).toEqual([]);
  });

  it.each(['constructor', 'toString', '__proto__', 'valueOf'])(
    'grants nothing through an inherited claim name (%s)',
    (name) => {
      expect(readScopes({}, [name])).toEqual([]);
    },
  );

  it('grants nothing from a "__proto__" key of a JSON.parse\'d payload', () => {
    const claims = JSON.parse(
      '{"__proto__":{"scp":"admin","roles":["Admin"]}}',
    ) as JwtClaims;
    expect(readScopes(claims, SCOPE_CLAIMS)).toEqual([]);
    expect(readRoles(claims, 'roles')).toEqual([]);
  });

  it('does not read scopes from the prototype of the claims object', () => {
    const claims = Object.create({ scp: 'inherited' }) as JwtClaims;
    expect(readScopes(claims, SCOPE_CLAIMS)).toEqual([]);
  });
});

describe('readRoles', () => {
  it('reads an array of roles without duplicates', () => {
    expect(readRoles({ roles: ['Admin', 'Reader', 'Admin'] }, 'roles')).toEqual(
      ['Admin', 'Reader'],
    );
  });

  it('reads a string as one role: a role is a whole name', () => {
    expect(readRoles({ roles: 'Admin' }, 'roles')).toEqual(['Admin']);
    expect(readRoles({ roles: 'Site Admin' }, 'roles')).toEqual(['Site Admin']);
    expect(readRoles({ roles: 'Admin Reader' }, 'roles')).toEqual([
      'Admin Reader',
    ]);
  });

  it('never grants a role that is only a word of a role name', () => {
    const roles = readRoles({ roles: 'Site Admin' }, 'roles');
    expect(roles).not.toContain('Admin');
    expect(roles).not.toContain('Site');
    const principal = createPrincipal({ roles: 'Site Admin' }, NAMES);
    expect(principal.roles).toEqual(['Site Admin']);
  });

  it('keeps the spaces of a role name in an array', () => {
    expect(readRoles({ roles: ['Site Admin', ' Reader'] }, 'roles')).toEqual([
      'Site Admin',
      ' Reader',
    ]);
  });

  it('grants nothing for an empty string', () => {
    expect(readRoles({ roles: '' }, 'roles')).toEqual([]);
  });

  it('still splits scopes, which are space-separated', () => {
    const principal = createPrincipal(
      { scp: 'read write', roles: 'read write' },
      NAMES,
    );
    expect(principal.scopes).toEqual(['read', 'write']);
    expect(principal.roles).toEqual(['read write']);
  });

  it('reads the configured claim', () => {
    expect(readRoles({ roles: ['A'], groups: ['G'] }, 'groups')).toEqual(['G']);
  });

  it('grants nothing for a missing or non-list claim', () => {
    expect(readRoles({}, 'roles')).toEqual([]);
    expect(readRoles({ roles: { Admin: true } }, 'roles')).toEqual([]);
  });

  it.each(['constructor', 'toString', '__proto__'])(
    'grants nothing through the inherited %s',
    (name) => {
      expect(readRoles({}, name)).toEqual([]);
    },
  );
});

describe('createPrincipal', () => {
  it('builds sub, scopes, roles and keeps the claims', () => {
    const claims = {
      sub: 'user-1',
      scp: 'read',
      scope: 'write',
      roles: ['Admin'],
      extra: 1,
    };
    const principal = createPrincipal(claims, NAMES);
    expect(principal).toEqual({
      sub: 'user-1',
      scopes: ['read', 'write'],
      roles: ['Admin'],
      claims,
    });
    expect(principal.claims).toBe(claims);
  });

  it('hands out frozen lists, empty or not', () => {
    const empty = createPrincipal({}, NAMES);
    expect(empty.scopes).toEqual([]);
    expect(empty.roles).toEqual([]);
    const full = createPrincipal({ scp: 'a b', roles: ['R'] }, NAMES);
    for (const principal of [empty, full]) {
      expect(Object.isFrozen(principal)).toBe(true);
      expect(Object.isFrozen(principal.scopes)).toBe(true);
      expect(Object.isFrozen(principal.roles)).toBe(true);
    }
    expect(() => (empty.scopes as string[]).push('admin')).toThrow(TypeError);
    expect(createPrincipal({}, NAMES).scopes).toEqual([]);
  });

  it('leaves sub undefined when it is absent or not a string', () => {
    expect(createPrincipal({}, NAMES).sub).toBeUndefined();
    expect(createPrincipal({ sub: 42 }, NAMES).sub).toBeUndefined();
  });

  it('uses the configured claim names', () => {
    const principal = createPrincipal(
      { scp: 'ignored', perms: ['p'], groups: ['g'], roles: ['ignored'] },
      { scopeClaims: ['perms'], roleClaim: 'groups' },
    );
    expect(principal.scopes).toEqual(['p']);
    expect(principal.roles).toEqual(['g']);
  });

  it('is frozen, scopes and roles included', () => {
    const principal = createPrincipal({ scp: 'a', roles: ['r'] }, NAMES);
    expect(Object.isFrozen(principal)).toBe(true);
    expect(Object.isFrozen(principal.scopes)).toBe(true);
    expect(Object.isFrozen(principal.roles)).toBe(true);
  });

  it('grants nothing to a prototype-polluting payload', () => {
    const claims = JSON.parse(
      '{"sub":"x","__proto__":{"scp":"admin","roles":["Admin"],"sub":"root"}}',
    ) as JwtClaims;
    const principal = createPrincipal(claims, {
      scopeClaims: ['scp', 'constructor', 'toString'],
      roleClaim: '__proto__',
    });
    expect(principal.scopes).toEqual([]);
    // The own "__proto__" value is an object, not a list, so it grants no role.
    expect(principal.roles).toEqual([]);
    expect(principal.sub).toBe('x');
    expect(({} as Record<string, unknown>).scp).toBeUndefined();
  });
});

describe('readClaimPath', () => {
  const keycloak = {
    realm_access: { roles: ['admin', 'offline_access'] },
    resource_access: {
      'reports.api': { roles: ['reader'] },
      account: { roles: ['view-profile'] },
    },
  };

  it('reads a top-level claim by name', () => {
    expect(readClaimPath({ roles: ['A'] }, 'roles')).toEqual(['A']);
  });

  it('walks a dotted path through nested objects (Keycloak)', () => {
    expect(readClaimPath(keycloak, 'realm_access.roles')).toEqual([
      'admin',
      'offline_access',
    ]);
    expect(readClaimPath(keycloak, 'resource_access.account.roles')).toEqual([
      'view-profile',
    ]);
  });

  it('reads a claim whose name contains dots as one name (Auth0 namespaces)', () => {
    const claims = { 'https://example.com/roles': ['Editor'] };
    expect(readClaimPath(claims, 'https://example.com/roles')).toEqual([
      'Editor',
    ]);
  });

  it('prefers an own claim named exactly like the path', () => {
    const claims = { 'a.b': 'literal', a: { b: 'nested' } };
    expect(readClaimPath(claims, 'a.b')).toBe('literal');
    expect(readClaimPath({ a: { b: 'nested' } }, 'a.b')).toBe('nested');
  });

  it('takes, at each level, the longest run of segments that names an own property', () => {
    expect(
      readClaimPath(keycloak, 'resource_access.reports.api.roles'),
    ).toEqual(['reader']);
    const namespaced = { 'https://example.com/app': { roles: ['Owner'] } };
    expect(readClaimPath(namespaced, 'https://example.com/app.roles')).toEqual([
      'Owner',
    ]);
  });

  it('reads nothing through a missing level, a string, an array or null', () => {
    expect(readClaimPath(keycloak, 'realm_access.groups')).toBeUndefined();
    expect(readClaimPath({}, 'realm_access.roles')).toBeUndefined();
    expect(readClaimPath({ a: 'text' }, 'a.length')).toBeUndefined();
    expect(readClaimPath({ a: [['x']] }, 'a.0')).toBeUndefined();
    expect(readClaimPath({ a: null }, 'a.b')).toBeUndefined();
  });

  it('never reads inherited properties on the way', () => {
    const nested = Object.create({ roles: ['Admin'] }) as object;
    expect(
      readClaimPath({ realm_access: nested }, 'realm_access.roles'),
    ).toBeUndefined();
    expect(readClaimPath({ a: {} }, 'a.toString')).toBeUndefined();
    expect(readClaimPath({ a: {} }, 'a.hasOwnProperty')).toBeUndefined();
  });

  it.each(['__proto__', 'constructor', 'prototype'])(
    'reads nothing through a %s segment, even an own one of a parsed payload',
    (segment) => {
      const claims = JSON.parse(
        `{"${segment}":{"roles":["Admin"]},"a":{"${segment}":{"roles":["Admin"]}}}`,
      ) as JwtClaims;
      expect(readClaimPath(claims, `${segment}.roles`)).toBeUndefined();
      expect(readClaimPath(claims, `a.${segment}.roles`)).toBeUndefined();
      expect(readRoles(claims, `a.${segment}.roles`)).toEqual([]);
    },
  );

  it.each(['.roles', 'roles.', 'realm_access..roles'])(
    'reads nothing for the malformed path "%s"',
    (path) => {
      const claims = { [path]: ['Admin'], roles: ['Admin'] };
      expect(readClaimPath(claims, path)).toBeUndefined();
    },
  );
});

describe('checkClaimPath', () => {
  it.each(['roles', 'realm_access.roles', 'https://example.com/roles'])(
    'accepts %s',
    (path) => {
      expect(checkClaimPath(path)).toBeUndefined();
    },
  );

  it.each([
    ['', /non-empty string/],
    [3, /non-empty string/],
    [['roles'], /non-empty string/],
    ['.roles', /empty segment in "\.roles"/],
    ['roles.', /empty segment/],
    ['a..b', /empty segment/],
    ['a.__proto__.b', /segment "__proto__"/],
    ['constructor', /segment "constructor"/],
    ['x.prototype', /segment "prototype"/],
  ])('refuses %j', (path, problem) => {
    expect(checkClaimPath(path)).toMatch(problem);
  });
});

describe('dotted paths for roles and scopes', () => {
  it('reads Keycloak realm roles, each a whole name', () => {
    expect(
      readRoles(
        { realm_access: { roles: ['admin', 'Site Admin', 'admin'] } },
        'realm_access.roles',
      ),
    ).toEqual(['admin', 'Site Admin']);
    expect(
      readRoles(
        { realm_access: { roles: 'Site Admin' } },
        'realm_access.roles',
      ),
    ).toEqual(['Site Admin']);
  });

  it('reads Auth0 permissions and a namespaced roles claim', () => {
    const claims = {
      permissions: ['read:reports', 'write:reports'],
      'https://example.com/roles': ['Editor'],
    };
    expect(readRoles(claims, 'permissions')).toEqual([
      'read:reports',
      'write:reports',
    ]);
    expect(readRoles(claims, 'https://example.com/roles')).toEqual(['Editor']);
  });

  it('reads scopes from a dotted path too', () => {
    expect(
      readScopes({ ext: { perms: 'a b' }, scp: 'c' }, ['ext.perms', 'scp']),
    ).toEqual(['a', 'b', 'c']);
  });

  it('builds the principal from the configured paths', () => {
    const principal = createPrincipal(
      { realm_access: { roles: ['admin'] }, roles: ['ignored'], scope: 'x' },
      { scopeClaims: ['scope'], roleClaim: 'realm_access.roles' },
    );
    expect(principal.roles).toEqual(['admin']);
    expect(principal.scopes).toEqual(['x']);
  });
});

describe('isApplicationToken', () => {
  // Azure AD v2: the app-only token has roles and no scp; the delegated one has scp.
  const azureApp = {
    sub: 'sp-object-id',
    oid: 'sp-object-id',
    azp: 'client-app-id',
    azpacr: '1',
    roles: ['Reports.Read.All'],
  };
  const azureUser = {
    sub: 'pairwise-user-id',
    oid: 'user-object-id',
    azp: 'client-app-id',
    azpacr: '0',
    scp: 'Reports.Read',
    roles: ['Reports.Read.All'],
  };

  it('Azure AD: no scp is an application token, scp is delegated', () => {
    expect(isApplicationToken(azureApp)).toBe(true);
    expect(isApplicationToken(azureUser)).toBe(false);
  });

  it('Azure AD v1 (appidacr) follows the same rule', () => {
    const { azpacr: _v2, azp: _azp, ...common } = azureApp;
    expect(
      isApplicationToken({ ...common, appid: 'client-app-id', appidacr: '1' }),
    ).toBe(true);
    expect(
      isApplicationToken({
        ...common,
        appid: 'client-app-id',
        appidacr: '1',
        scp: 'Reports.Read',
      }),
    ).toBe(false);
  });

  it('Azure AD: idtyp decides when the token carries it', () => {
    expect(isApplicationToken({ ...azureApp, idtyp: 'user' })).toBe(false);
    expect(isApplicationToken({ ...azureUser, idtyp: 'app' })).toBe(true);
    expect(
      isApplicationToken({ sub: 'c', client_id: 'c', idtyp: 'user' }),
    ).toBe(false);
    // Only "app" is an application: any other value, even on an app-only token, is not.
    for (const idtyp of ['device', '', 'App', 'application']) {
      expect(isApplicationToken({ ...azureApp, idtyp })).toBe(false);
    }
  });

  it('an Azure AD delegated token is never an application token, even with sub equal to azp', () => {
    expect(isApplicationToken({ ...azureUser, sub: 'client-app-id' })).toBe(
      false,
    );
  });

  it('Auth0: gty client-credentials is an application token', () => {
    expect(
      isApplicationToken({
        sub: 'abc123@clients',
        azp: 'abc123',
        gty: 'client-credentials',
      }),
    ).toBe(true);
    expect(
      isApplicationToken({ sub: 'auth0|user', azp: 'abc123', gty: 'password' }),
    ).toBe(false);
    expect(isApplicationToken({ sub: 'auth0|user', azp: 'abc123' })).toBe(
      false,
    );
  });

  it.each(['client_id', 'azp', 'cid'])(
    'generic: sub equal to %s is an application token',
    (name) => {
      expect(isApplicationToken({ sub: 'svc', [name]: 'svc' })).toBe(true);
      expect(isApplicationToken({ sub: 'alice', [name]: 'svc' })).toBe(false);
    },
  );

  it('a token without sub, or with an empty or non-string sub, is delegated', () => {
    expect(isApplicationToken({ client_id: 'svc' })).toBe(false);
    expect(isApplicationToken({ sub: '', client_id: '' })).toBe(false);
    expect(isApplicationToken({ sub: 7, client_id: 7 })).toBe(false);
    expect(isApplicationToken({})).toBe(false);
  });

  it('reads no inherited claim', () => {
    const claims = JSON.parse(
      '{"sub":"svc","__proto__":{"client_id":"svc","gty":"client-credentials","idtyp":"app"}}',
    ) as JwtClaims;
    expect(isApplicationToken(claims)).toBe(false);
  });
});
