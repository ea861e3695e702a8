"""Throw-away certificates for the TLS tests, made with the openssl CLI."""

import os
import subprocess


def _run(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class PKI:
    """A CA, server certificates it signs (localhost, 127.0.0.1), client
    certificates, and a self-signed stranger."""

    def __init__(self, directory):
        self.dir = str(directory)
        self.ca_key, self.ca = self.path("ca.key"), self.path("ca.pem")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/CN=wsbridge test CA", "-days", "2", "-keyout", self.ca_key, "-out", self.ca)

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, cn, server=True):
        """Returns (cert, key) signed by the CA."""
        key, csr, crt = self.path(name + ".key"), self.path(name + ".csr"), self.path(name + ".pem")
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            if server:
                f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", f"/CN={cn}", "-keyout", key, "-out", csr)
        _run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
             "-days", "2", "-extfile", ext, "-out", crt)
        return crt, key

    def stranger(self, name, cn):
        """A self-signed certificate no CA here vouches for."""
        key, crt = self.path(name + ".key"), self.path(name + ".pem")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", f"/CN={cn}", "-days", "2", "-keyout", key, "-out", crt)
        return crt, key

    def encrypted_key(self, key, password):
        out = self.path("encrypted.key")
        _run("pkey", "-in", key, "-aes256", "-passout", f"pass:{password}", "-out", out)
        return out
