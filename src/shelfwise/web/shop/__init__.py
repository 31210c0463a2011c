"""The storefront: server-rendered pages with forms that work without JavaScript."""
