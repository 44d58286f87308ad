/**
 * Client commands after Server-Start, RFC 5357 section 3.4: the first octet of the first block
 * names the command, and the command fixes the message length. The server reads one block,
 * decrypts it when needed, looks at the command here, and reads the rest of the message.
 */
import { Command, REQUEST_TW_SESSION_LENGTH, START_SESSIONS_LENGTH, STOP_SESSIONS_LENGTH } from './common.js';

/** Total length of the client command `command`, or null for commands we do not implement. */
export function clientCommandLength(command: number): number | null {
  switch (command) {
    case Command.REQUEST_TW_SESSION:
      return REQUEST_TW_SESSION_LENGTH;
    case Command.START_SESSIONS:
      return START_SESSIONS_LENGTH;
    case Command.STOP_SESSIONS:
      return STOP_SESSIONS_LENGTH;
    default:
      return null;
  }
}

/** Name of a command number for logs and metrics. */
export function commandName(command: number): string {
  switch (command) {
    case Command.START_SESSIONS:
      return 'Start-Sessions';
    case Command.STOP_SESSIONS:
      return 'Stop-Sessions';
    case Command.REQUEST_TW_SESSION:
      return 'Request-TW-Session';
    case Command.START_N_SESSIONS:
      return 'Start-N-Sessions';
    case Command.STOP_N_SESSIONS:
      return 'Stop-N-Sessions';
    default:
      return `command ${command}`;
  }
}
