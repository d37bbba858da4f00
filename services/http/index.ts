import { fileURLToPath } from 'node:url';
import { migrationsFromDir } from '../../core/store/migrate.ts';

export {
  createOperatorTokens,
  type Operator,
  type OperatorTokens,
  ROLES,
  type Role,
  roleAllows,
  TOKEN_NAME,
  type TokenInfo,
} from './auth.ts';
export { type AccountEraser, CITIZEN_COOKIE, type Citizen, type CitizenAuth, type CitizenPlugin } from './citizen.ts';
export { type HttpConfig, httpConfigSchema, publicUrlOf } from './config.ts';
export {
  BEARER_SECURITY,
  CITIZEN_SECURITY,
  createHttpServer,
  ErrorBody,
  ErrorIssue,
  errorBody,
  errorResponses,
  type HttpPlugin,
  type HttpServer,
  type HttpServerDeps,
  httpStatusOf,
  type RunningHttp,
  startHttp,
} from './server.ts';

/** The HTTP server's SQL migrations (operator tokens), component `http`, for `openStore`. */
export const httpMigrations = migrationsFromDir('http', fileURLToPath(new URL('./migrations', import.meta.url)));
