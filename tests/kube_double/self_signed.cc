#include "kube_double/self_signed.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <memory>

namespace carplb::kubedouble {

namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, decltype(&X509_EXTENSION_free)>;

bool addExt(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()), X509_EXTENSION_free);
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

Result<CertFiles> writeSelfSignedCert(const std::string& dir, const std::string& host) {
  KeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) {
    return makeError("tls-self-signed: generating an EC P-256 key failed");
  }
  CertPtr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(std::time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 365);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("carplb-kube-double"), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  if (!host.empty() && host != "127.0.0.1" && host != "::1" && host != "0.0.0.0" && host != "::") {
    san += (host.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos ? ",IP:" : ",DNS:") + host;
  }
  if (!addExt(cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !addExt(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign") ||
      !addExt(cert.get(), NID_ext_key_usage, "serverAuth") || !addExt(cert.get(), NID_subject_alt_name, san)) {
    return makeError("tls-self-signed: adding X.509 extensions failed (subjectAltName " + san + ")");
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return makeError("tls-self-signed: signing the certificate failed");
  }
  CertFiles files{dir + "/tls.crt", dir + "/tls.key"};
  {
    FilePtr f(std::fopen(files.certFile.c_str(), "w"));
    if (!f || PEM_write_X509(f.get(), cert.get()) != 1) {
      return makeError("tls-self-signed: cannot write " + files.certFile);
    }
  }
  {
    FilePtr f(std::fopen(files.keyFile.c_str(), "w"));
    if (!f) {
      return makeError("tls-self-signed: cannot write " + files.keyFile);
    }
    ::chmod(files.keyFile.c_str(), 0600);
    if (PEM_write_PrivateKey(f.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      return makeError("tls-self-signed: cannot write " + files.keyFile);
    }
  }
  return files;
}

}  // namespace carplb::kubedouble
