import {
  createPrincipal,
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
