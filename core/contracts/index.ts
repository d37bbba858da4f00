export * from './alert.ts';
export * from './dead-letter.ts';
export * from './device.ts';
export * from './event.ts';
export * from './payload.ts';
export * from './reading.ts';
export * from './time.ts';
export * from './topics.ts';
