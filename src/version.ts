/** Ketch's version: `ketch --version` and `ketchctl version` print it. Kept with package.json's (test/cmd/ketch-flags.test.ts checks). */
export const KETCH_VERSION = '0.1.0';
