import { isAuthenticated, markAuthenticated } from './request-state.js';

describe('markAuthenticated / isAuthenticated', () => {
  it('marks one argument list and no other', () => {
    const args = [{}, {}];
    expect(isAuthenticated(args)).toBe(false);
    markAuthenticated(args);
    expect(isAuthenticated(args)).toBe(true);
    expect(isAuthenticated([{}, {}])).toBe(false);
  });

  it('leaves nothing that reflection lists or a copy takes', () => {
    const args = [{}, {}];
    markAuthenticated(args);
    expect(Reflect.ownKeys(args)).toEqual(['0', '1', 'length']);
    expect(Reflect.ownKeys({ ...args })).toEqual(['0', '1']);
    expect(isAuthenticated([...args])).toBe(false);
    expect(isAuthenticated(Object.assign([], args))).toBe(false);
  });

  it('takes a second mark of the same list without throwing', () => {
    const args = [{}];
    markAuthenticated(args);
    expect(() => markAuthenticated(args)).not.toThrow();
    expect(isAuthenticated(args)).toBe(true);
  });

  it('remembers a list that cannot take a field (frozen or sealed)', () => {
    for (const args of [Object.freeze([{}]), Object.seal([{}])]) {
      expect(isAuthenticated(args)).toBe(false);
      markAuthenticated(args);
      expect(isAuthenticated(args)).toBe(true);
      expect(Reflect.ownKeys(args)).toEqual(['0', 'length']);
    }
  });
});
