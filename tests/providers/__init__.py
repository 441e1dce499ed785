"""Providers that exist only for the test suite, registered at run time (`service.providers.register`)."""
