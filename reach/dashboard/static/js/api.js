// The public API as any outside front end calls it: POST /auth/login for a session,
// POST /graphql with a Bearer token. Errors carry the server's message, never a stack.

export class ApiError extends Error {
  constructor(message, { status = 0, code = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function login(email, password) {
  const response = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error || {};
    throw new ApiError(error.message || `Sign-in failed (${response.status})`, {
      status: response.status, code: error.code,
    });
  }
  return body.token;
}

export async function gql(token, query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => null);
  const first = body && body.errors && body.errors[0];
  if (!response.ok || first) {
    const message = first ? first.message : `HTTP ${response.status}`;
    const code = first && first.extensions ? first.extensions.code : null;
    throw new ApiError(message, { status: response.status, code });
  }
  return body.data;
}

// True when the server's schema has no such field (e.g. analytics not deployed yet).
export function isMissingField(error) {
  return /Cannot query field|Unknown type|Unknown argument/.test(String(error && error.message));
}
