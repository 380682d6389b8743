// Set by vite.config.ts at build time: "web <package version>+<commit>".
declare const __APP_VERSION__: string;
