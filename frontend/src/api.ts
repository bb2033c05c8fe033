/** The HTTP API of `plantwire serve` (docs/api.md), with the session's CSRF token. */

let csrfToken: string | null = null;

export function setCsrf(token: string | null): void {
  csrfToken = token;
}

function cookieCsrf(): string | null {
  const m = document.cookie.match(/(?:^|;\s*)pw_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

export class ApiError extends Error {
  status: number;
  code: string;
  body: Record<string, unknown>;
  constructor(status: number, code: string, message: string, body: Record<string, unknown>) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const h: Record<string, string> = { ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (method !== "GET") {
    const token = csrfToken ?? cookieCsrf();
    if (token) h["X-CSRF-Token"] = token;
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "network_error", `cannot reach the server: ${String(err)}`, {});
  }
  if (res.status === 204) return null as T;
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get("content-type") ?? "").includes("json") && text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!res.ok) {
    const obj = (parsed && typeof parsed === "object" ? parsed : {}) as Record<string, unknown>;
    const code = typeof obj.code === "string" ? obj.code : `http_${res.status}`;
    const message = typeof obj.message === "string" ? obj.message : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, code, message, obj);
  }
  return parsed as T;
}
