/** The citizen document vault (issue 8): envelope encryption, share links, document checks, audit events. */
export * from './config.ts';
export * from './crypto.ts';
export * from './documents.ts';
export * from './share-link.ts';
