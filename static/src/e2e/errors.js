export class E2EError extends Error {
  constructor(message, reason = "error") {
    super(message);
    this.reason = reason;
  }
}

export class DecryptError extends E2EError {
  constructor(message, reason = "undecryptable") {
    super(message, reason);
  }
}
