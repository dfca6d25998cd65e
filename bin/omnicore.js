#!/usr/bin/env node
// The `omnicore` command. Node 24 runs the TypeScript sources directly (type stripping), so there
// is no build step between a clone and a running bank.
await import("../src/main.ts");
