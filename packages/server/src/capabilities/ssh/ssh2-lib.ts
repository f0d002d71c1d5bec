/**
 * ssh2 is CommonJS, and Node's ESM loader cannot see its named exports: take them from the
 * default export once, here (types still come from "ssh2" directly).
 */
import ssh2 from "ssh2";

export const { Server, utils } = ssh2;
