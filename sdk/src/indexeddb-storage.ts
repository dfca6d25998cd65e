import type { KeyValueStorage } from "./storage.ts";

/**
 * KeyValueStorage on IndexedDB, for browsers and web views. Values are stored as structured
 * clones of their JSON form in one object store; every call is its own transaction, and `set`
 * resolves on the transaction's `complete` event, when the write is durable.
 */
/*
 * The slice of the IndexedDB API this adapter uses, declared here so the SDK type-checks without
 * the DOM library too; the browser's `indexedDB` and fake-indexeddb both satisfy it.
 */
interface IDBRequest<T = unknown> {
  result: T;
  error: unknown;
  onsuccess: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
interface IDBOpenDBRequest extends IDBRequest<IDBDatabase> {
  onupgradeneeded: ((event: unknown) => void) | null;
}
interface IDBObjectStore {
  get(key: string): IDBRequest<unknown>;
  put(value: unknown, key: string): IDBRequest<unknown>;
  delete(key: string): IDBRequest<unknown>;
}
interface IDBTransaction {
  error: unknown;
  objectStore(name: string): IDBObjectStore;
  oncomplete: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onabort: ((event: unknown) => void) | null;
}
interface IDBDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(storeName: string, mode: "readonly" | "readwrite"): IDBTransaction;
  close(): void;
}
export interface IDBFactory {
  open(name: string, version?: number): IDBOpenDBRequest;
}

export interface IndexedDbStorageOptions {
  /** Defaults to `globalThis.indexedDB`; tests pass `fake-indexeddb`'s factory. */
  factory?: IDBFactory;
  databaseName?: string;
  storeName?: string;
}

function promised<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function completed(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error ?? new Error("IndexedDB transaction aborted"));
  });
}

export class IndexedDbStorage implements KeyValueStorage {
  readonly #storeName: string;
  readonly #database: Promise<IDBDatabase>;

  constructor(options: IndexedDbStorageOptions = {}) {
    const factory = options.factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!factory) throw new Error("IndexedDB is not available here; pass `factory`");
    const storeName = options.storeName ?? "omnicore";
    this.#storeName = storeName;
    const open = factory.open(options.databaseName ?? "omnicore-sdk", 1);
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains(storeName)) open.result.createObjectStore(storeName);
    };
    this.#database = promised(open);
  }

  async get<T>(key: string): Promise<T | undefined> {
    const store = (await this.#database)
      .transaction(this.#storeName, "readonly")
      .objectStore(this.#storeName);
    const text = (await promised(store.get(key))) as string | undefined;
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async set<T>(key: string, value: T): Promise<void> {
    const transaction = (await this.#database).transaction(this.#storeName, "readwrite");
    transaction.objectStore(this.#storeName).put(JSON.stringify(value), key);
    await completed(transaction);
  }

  async delete(key: string): Promise<void> {
    const transaction = (await this.#database).transaction(this.#storeName, "readwrite");
    transaction.objectStore(this.#storeName).delete(key);
    await completed(transaction);
  }

  async close(): Promise<void> {
    (await this.#database).close();
  }
}
