export { FileSecureStore, FileStorage } from "./file-storage.ts";
