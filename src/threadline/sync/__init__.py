"""Moving what the local store holds to the server, exactly once."""
