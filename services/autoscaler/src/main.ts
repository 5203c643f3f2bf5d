// entry point: replaced by the service's implementation
export {};
