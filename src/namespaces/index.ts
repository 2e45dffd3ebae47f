export * from './conf.js';
export * from './argv.js';
export * from './caps.js';
export * from './defaults.js';
export * from './fds.js';
export * from './launch.js';
