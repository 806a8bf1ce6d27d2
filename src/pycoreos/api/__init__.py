"""Client-facing APIs: the v2 HTTP+JSON API (``v2http``) on a small HTTP/1.1 server (``http``)."""
