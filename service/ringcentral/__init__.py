"""The service's side of the RingCentral integration: storage for credentials, tokens and
subscriptions (implementing the `subscriptions` package's store protocols), and the loop."""
