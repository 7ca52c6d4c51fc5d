"""HTTPS in front of an HTTP server on loopback, as a hospital's reverse proxy does.

Run as a separate process by the PACS tests:
``python tls_proxy.py SERVER_PEM LISTEN_PORT BACKEND_PORT``.
Debian 12's Orthanc 1.10.1 crashes (SIGSEGV) on its first request when its own ``SslEnabled``
is used, so the tests terminate TLS here instead.
"""

import asyncio
import ssl
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def main(pem: str, port: int, backend_port: int) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem)

    async def handle(client_reader, client_writer):
        try:
            backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1",
                                                                           backend_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, backend_writer),
                             pipe(backend_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=context)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
