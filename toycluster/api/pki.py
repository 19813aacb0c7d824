"""The cluster's PKI (kubeadm's /etc/kubernetes/pki, cert-manager's CA issuer): a cluster CA made at `up`,
certificates it signs for Ingress hosts that name no Secret, and the check of kubernetes.io/tls Secrets.

Built on the `cryptography` package rather than the openssl command: the ingress controller signs a
certificate in-process in about a millisecond when Ingress hosts change (no fork from a process that is
serving traffic), and a Secret's certificate and key are parsed and compared exactly, so a bad Secret gets
a precise error. Keys are ECDSA P-256; the CA lives in /var/lib/toycluster/<cluster>/pki/ (ca.crt, ca.key).
"""
from __future__ import annotations

import datetime
import ipaddress
import os

from toycluster.config import write_atomic

CA_NAME = "toycluster-ca"


def ca_paths(state_dir: str) -> tuple[str, str]:
    return f"{state_dir}/pki/ca.crt", f"{state_dir}/pki/ca.key"


def _name(cn: str, org: str | None = None):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(state_dir: str, cluster: str) -> str:
    """The cluster CA (made once: an existing one is kept). Returns the certificate's path."""
    cert_path, key_path = ca_paths(state_dir)
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = _name(f"{CA_NAME} {cluster}", "toycluster")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    os.makedirs(os.path.dirname(cert_path), mode=0o700, exist_ok=True)
    write_atomic(key_path, _pem(key), mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def issue(ca_cert_pem: bytes, ca_key_pem: bytes, hosts: list[str], days: int = 365,
          client: tuple[str, str] | None = None) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for HOSTS (DNS names, wildcards or IPs) signed by the CA; with CLIENT
    (common name, organization), a client certificate for that user and group instead (kubeadm's admin.conf)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for h in hosts or ["ingress.local"]:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = _name(client[0], client[1]) if client else _name((hosts or ["ingress.local"])[0][:64])
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = x509.CertificateBuilder().subject_name(subject)
    if not client:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = (builder
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _pem(key)


def check_tls_pair(cert_pem: bytes, key_pem: bytes) -> tuple[str | None, str] | None:
    """None if CERT_PEM is a PEM X.509 certificate (chain) and KEY_PEM the PEM private key of its first
    certificate; else (field, reason) with field "tls.crt", "tls.key" or None (they do not belong together)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        return "tls.crt", ("not a PEM-encoded X.509 certificate (" + ("its PEM block does not parse)" if
                           b"-----BEGIN CERTIFICATE-----" in cert_pem else "no -----BEGIN CERTIFICATE----- block)"))
    try:
        key = serialization.load_pem_private_key(key_pem, None)
    except TypeError:
        return "tls.key", "the private key is encrypted: give it without a passphrase"
    except Exception:  # noqa: BLE001 - cryptography raises several kinds for garbage
        return "tls.key", ("not a PEM-encoded private key (" + ("its PEM block does not parse)" if b"PRIVATE KEY-----"
                           in key_pem else "no -----BEGIN PRIVATE KEY----- block)"))
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if certs[0].public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        return None, "tls.key is not the private key of the certificate in tls.crt"
    return None
