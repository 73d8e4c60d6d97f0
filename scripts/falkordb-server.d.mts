export declare const FALKORDB_MODULE_PACKAGE: string;
export declare function falkordbModulePath(): string;
export declare function serverBinary(): string;
export declare function freePort(): Promise<number>;
export declare function startFalkorDB(options?: { port?: number; persist?: boolean }): Promise<{
  url: string;
  port: number;
  log(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
}>;
