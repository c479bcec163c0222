#include "sidecar/server_security.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "table/base/absl_compat.h"

namespace deltasidecar::sidecar {

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// `flag path` as every message below names a file.
std::string Named(std::string_view flag, const std::string& path) {
  return Cat(flag, " ", path);
}

absl::StatusOr<std::string> ReadWholeFile(std::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        Cat(Named(flag, path), ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::FailedPreconditionError(
        Cat(Named(flag, path), ": read error: ", std::strerror(errno)));
  }
  return content.str();
}

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The certificates of a PEM bundle, in order; FailedPrecondition when it has none.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view flag,
                                                       const std::string& path,
                                                       const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  if (certs.empty()) {
    return absl::FailedPreconditionError(Cat(
        Named(flag, path), ": holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)"));
  }
  return certs;
}

absl::Status CheckNotExpired(std::string_view flag, const std::string& path, X509* cert,
                             size_t index) {
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    BioPtr out(BIO_new(BIO_s_mem()));
    ASN1_TIME_print(out.get(), X509_get0_notAfter(cert));
    char* text = nullptr;
    long n = BIO_get_mem_data(out.get(), &text);
    return absl::FailedPreconditionError(Cat(Named(flag, path), ": certificate ", index + 1,
                                                      " expired on ", std::string_view(text, n)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together: set both for TLS, or neither for plaintext");
  }
  if (files.cert_file.empty()) {
    if (!files.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca needs --tls-cert and --tls-key: mutual TLS runs over TLS");
    }
    return grpc::InsecureServerCredentials();
  }

  auto cert_pem = ReadWholeFile("--tls-cert", files.cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  auto chain = ParseCertificates("--tls-cert", files.cert_file, *cert_pem);
  if (!chain.ok()) return chain.status();
  for (size_t i = 0; i < chain->size(); ++i) {
    if (auto s = CheckNotExpired("--tls-cert", files.cert_file, (*chain)[i].get(), i); !s.ok()) {
      return s;
    }
  }

  auto key_pem = ReadWholeFile("--tls-key", files.key_file);
  if (!key_pem.ok()) return key_pem.status();
  BioPtr key_bio = MemoryBio(*key_pem);
  // A null password callback with empty user data makes OpenSSL fail on an
  // encrypted key instead of prompting on the terminal.
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr,
                                      [](char*, int, int, void*) { return 0; }, nullptr));
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        Cat(Named("--tls-key", files.key_file),
                     ": holds no unencrypted PEM private key (expected -----BEGIN PRIVATE KEY----- "
                     "or -----BEGIN RSA/EC PRIVATE KEY-----)"));
  }
  if (X509_check_private_key(chain->front().get(), key.get()) != 1) {
    return absl::FailedPreconditionError(
        Cat(Named("--tls-key", files.key_file), " does not match the certificate in ",
                     Named("--tls-cert", files.cert_file),
                     " (the key must be the one the first certificate was issued for)"));
  }

  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key_pem, *cert_pem});
  options.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (!files.client_ca_file.empty()) {
    auto ca_pem = ReadWholeFile("--tls-client-ca", files.client_ca_file);
    if (!ca_pem.ok()) return ca_pem.status();
    auto cas = ParseCertificates("--tls-client-ca", files.client_ca_file, *ca_pem);
    if (!cas.ok()) return cas.status();
    options.pem_root_certs = *ca_pem;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

bool IsLocalOnlyAddress(std::string_view listen) {
  if (listen.starts_with("unix:") || listen.starts_with("unix-abstract:")) {
    return true;
  }
  if (listen.starts_with("ipv4:")) listen.remove_prefix(5);
  if (listen.starts_with("ipv6:")) listen.remove_prefix(5);
  std::string_view host;
  if (listen.starts_with("[")) {
    size_t close = listen.find(']');
    if (close == std::string_view::npos) return false;
    host = listen.substr(1, close - 1);
  } else {
    size_t colon = listen.rfind(':');
    host = colon == std::string_view::npos ? listen : listen.substr(0, colon);
  }
  if (EqualsIgnoreCase(host, "localhost")) return true;
  std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // empty (every interface), a wildcard or a host name
}

absl::StatusOr<std::unique_ptr<BearerTokenCheck>> BearerTokenCheck::FromFile(
    const std::string& path) {
  auto content = ReadWholeFile("--auth-token-file", path);
  if (!content.ok()) return content.status();
  std::string_view token = *content;
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) {
    token.remove_prefix(1);
  }
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.remove_suffix(1);
  }
  if (token.empty()) {
    return absl::FailedPreconditionError(
        Cat(Named("--auth-token-file", path), ": the file is empty"));
  }
  for (size_t i = 0; i < token.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(token[i]);
    if (c <= 0x20 || c >= 0x7f) {
      // The position only: the token itself must not reach a log.
      return absl::FailedPreconditionError(Cat(
          Named("--auth-token-file", path), ": byte ", i + 1,
          " of the token is not printable ASCII (a token is one word of printable ASCII, "
          "without spaces)"));
    }
  }
  std::array<unsigned char, 32> digest;
  unsigned int len = 0;
  if (EVP_Digest(token.data(), token.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != digest.size()) {
    return absl::InternalError("SHA-256 of the bearer token failed");
  }
  return std::unique_ptr<BearerTokenCheck>(new BearerTokenCheck(digest));
}

grpc::Status BearerTokenCheck::Check(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto [first, last] = metadata.equal_range("authorization");
  if (first == last) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this sidecar requires the call metadata 'authorization: Bearer <token>'");
  }
  if (std::next(first) != last) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "more than one 'authorization' metadata entry");
  }
  std::string_view value(first->second.data(), first->second.size());
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size() ||
      !EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the 'authorization' metadata is not of the form 'Bearer <token>'");
  }
  std::string_view token = value.substr(kScheme.size());
  std::array<unsigned char, 32> digest;
  unsigned int len = 0;
  bool hashed = EVP_Digest(token.data(), token.size(), digest.data(), &len, EVP_sha256(),
                           nullptr) == 1 &&
                len == digest.size();
  if (!hashed || CRYPTO_memcmp(digest.data(), digest_.data(), digest.size()) != 0) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong bearer token");
  }
  return grpc::Status::OK;
}

namespace {

// A Write stream refused before it starts: finishes with `status` at once.
class RefusedWrite final : public grpc::ServerBidiReactor<v1::WriteRequest, v1::WriteResponse> {
 public:
  explicit RefusedWrite(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

#define DELTA_AUTHENTICATED_CALL(Method, Request, Response)                                  \
  grpc::Status AuthenticatedService::Method(grpc::ServerContext* ctx, const Request* req, \
                                            Response* resp) {                            \
    if (grpc::Status s = check_->Check(*ctx); !s.ok()) return s;                         \
    return inner_->Method(ctx, req, resp);                                               \
  }

DELTA_AUTHENTICATED_CALL(CreateTable, v1::CreateTableRequest, v1::CreateTableResponse)
DELTA_AUTHENTICATED_CALL(DescribeTable, v1::DescribeTableRequest, v1::DescribeTableResponse)
DELTA_AUTHENTICATED_CALL(AlterTable, v1::AlterTableRequest, v1::AlterTableResponse)
DELTA_AUTHENTICATED_CALL(DropPartition, v1::DropPartitionRequest, v1::DropPartitionResponse)
DELTA_AUTHENTICATED_CALL(RegisterWriter, v1::RegisterWriterRequest, v1::RegisterWriterResponse)
DELTA_AUTHENTICATED_CALL(PrepareCommit, v1::PrepareCommitRequest, v1::Committable)
DELTA_AUTHENTICATED_CALL(Commit, v1::CommitRequest, v1::CommitResponse)
DELTA_AUTHENTICATED_CALL(Abort, v1::AbortRequest, v1::AbortResponse)
DELTA_AUTHENTICATED_CALL(Scan, v1::ScanRequest, grpc::ServerWriter<v1::ScanResponse>)
DELTA_AUTHENTICATED_CALL(Get, v1::GetRequest, v1::GetResponse)
DELTA_AUTHENTICATED_CALL(Changes, v1::ChangesRequest, grpc::ServerWriter<v1::ScanResponse>)
DELTA_AUTHENTICATED_CALL(History, v1::HistoryRequest, v1::HistoryResponse)
DELTA_AUTHENTICATED_CALL(FollowChanges, v1::FollowChangesRequest,
                         grpc::ServerWriter<v1::ScanResponse>)

#undef DELTA_AUTHENTICATED_CALL

grpc::ServerBidiReactor<v1::WriteRequest, v1::WriteResponse>* AuthenticatedService::Write(
    grpc::CallbackServerContext* ctx) {
  if (grpc::Status s = check_->Check(*ctx); !s.ok()) return new RefusedWrite(s);
  return inner_->Write(ctx);
}

}  // namespace deltasidecar::sidecar
