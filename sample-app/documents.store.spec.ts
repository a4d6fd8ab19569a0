import {
  DocumentsStore,
  MAX_DOCUMENTS_PER_SUBJECT,
  MAX_SUBJECTS,
} from './documents.store.js';

const NOTE = { title: 'note', content: '' };

describe('DocumentsStore', () => {
  it('starts with the ownerless welcome document, readable by anyone', () => {
    const store = new DocumentsStore();
    const [welcome] = store.listReadableBy(undefined);
    expect(welcome).toMatchObject({ owner: null, title: 'Welcome' });
    expect(store.listReadableBy('alice')).toEqual([welcome]);
    expect(store.find(welcome.id)).toBe(welcome);
  });

  it('lists a subject its own documents, oldest first, and no one else’s', () => {
    const store = new DocumentsStore();
    const a1 = store.create('alice', NOTE);
    const b1 = store.create('bob', NOTE);
    const a2 = store.create('alice', NOTE);
    expect(store.listReadableBy('alice').slice(1)).toEqual([a1, a2]);
    expect(store.listReadableBy('bob').slice(1)).toEqual([b1]);
    expect(store.listReadableBy(undefined)).toHaveLength(1);
  });

  it('evicts only the oldest documents of the subject that went past its bound', () => {
    const store = new DocumentsStore();
    const kept = store.create('victim', NOTE);
    const flood = Array.from({ length: MAX_DOCUMENTS_PER_SUBJECT + 5 }, () =>
      store.create('mallory', NOTE),
    );
    expect(store.countOwnedBy('mallory')).toBe(MAX_DOCUMENTS_PER_SUBJECT);
    expect(store.find(flood[4].id)).toBeUndefined();
    expect(store.find(flood[5].id)).toBe(flood[5]);
    expect(store.find(kept.id)).toBe(kept);
    expect(store.countOwnedBy('victim')).toBe(1);
  });

  it('drops the subject that wrote least recently once there are too many subjects', () => {
    const store = new DocumentsStore();
    const first = store.create('subject-0', NOTE);
    const second = store.create('subject-1', NOTE);
    // subject-0 writes again, so subject-1 is now the idlest.
    store.create('subject-0', NOTE);
    for (let i = 2; i <= MAX_SUBJECTS; i++) store.create(`subject-${i}`, NOTE);
    expect(store.countOwnedBy('subject-1')).toBe(0);
    expect(store.find(second.id)).toBeUndefined();
    expect(store.find(first.id)).toBe(first);
    expect(store.countOwnedBy('subject-0')).toBe(2);
    expect(store.countOwnedBy(`subject-${MAX_SUBJECTS}`)).toBe(1);
  });

  it('freezes what it stores', () => {
    const document = new DocumentsStore().create('alice', NOTE);
    expect(Object.isFrozen(document)).toBe(true);
  });
});
