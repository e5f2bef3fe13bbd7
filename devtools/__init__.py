"""Development tools for oauth-login's tests and demo: a local OpenID provider and a headless browser."""
