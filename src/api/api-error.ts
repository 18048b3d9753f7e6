/** An API failure with its HTTP status and the SPEC §5 error name; rendered as JSON. */
export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const invalid = (message: string): ApiError => new ApiError(400, 'invalid_request', message);
