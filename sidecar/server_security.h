// Transport security and call authentication of the gRPC port: TLS and
// mutual TLS credentials from PEM files, a bearer token every call must
// carry, and the check whether a listen address is reachable only from this
// machine. Everything is decided at startup; nothing here changes while the
// server runs (new certificates or a new token take a restart).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "deltasidecar/v1/sidecar.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"

namespace deltasidecar::sidecar {

// The PEM files of the gRPC port (the flags of the same names).
struct TlsFiles {
  // Server certificate chain, leaf first. Empty (with key_file): plaintext.
  std::string cert_file;
  // Unencrypted private key of the leaf certificate in cert_file.
  std::string key_file;
  // CA certificates. Non-empty: mutual TLS, every client must present a
  // certificate that one of them signed, or the handshake fails.
  std::string client_ca_file;
};

// Credentials for grpc::ServerBuilder::AddListeningPort: insecure when no
// file is set, TLS with cert and key, mutual TLS with a client CA as well.
// Every file is read and checked here, so a bad one stops the startup
// instead of failing each handshake later. Errors name the flag and the file:
// InvalidArgument for a flag set without the one it needs; FailedPrecondition
// for a file that cannot be read, holds no PEM certificate or key, an expired
// certificate, or a key that does not belong to the certificate.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

// True when a server on `listen` (host:port, [v6]:port, unix:path,
// unix-abstract:name) accepts connections only from this machine: a unix
// socket, `localhost`, 127.0.0.0/8 or ::1. Any other host (0.0.0.0, [::], a
// routable address, a host name) counts as reachable from the network.
bool IsLocalOnlyAddress(std::string_view listen);

// Checks the `authorization: Bearer <token>` metadata of a call against the
// token read from a file at startup. Thread-safe (immutable after FromFile).
class BearerTokenCheck {
 public:
  // Reads the token: the file's content without surrounding whitespace
  // (a trailing newline is common). FailedPrecondition, naming the file, when
  // it cannot be read, is empty, or holds characters other than printable
  // ASCII without spaces (what a header value and RFC 6750 allow).
  static absl::StatusOr<std::unique_ptr<BearerTokenCheck>> FromFile(const std::string& path);

  // OK when the call carries exactly one `authorization` entry whose value
  // is `Bearer <token>` (the scheme in any case). UNAUTHENTICATED otherwise,
  // without saying how close a wrong token came: the token comparison takes
  // the same time for every wrong token of any length (SHA-256 digests,
  // compared in constant time).
  grpc::Status Check(const grpc::ServerContextBase& context) const;

 private:
  explicit BearerTokenCheck(const std::array<unsigned char, 32>& digest) : digest_(digest) {}
  const std::array<unsigned char, 32> digest_;  // SHA-256 of the token
};

// The deltasidecar.v1 service behind a bearer token: every call is checked
// first and answered UNAUTHENTICATED when it fails, otherwise handed to
// `inner` unchanged. Registered in place of `inner`; the health service is
// registered separately and so stays open to probes. Both pointers must
// outlive the server.
class AuthenticatedService final
    : public v1::DeltaSidecar::WithCallbackMethod_Write<v1::DeltaSidecar::Service> {
 public:
  AuthenticatedService(v1::DeltaSidecar::WithCallbackMethod_Write<v1::DeltaSidecar::Service>* inner,
                       const BearerTokenCheck* check)
      : inner_(inner), check_(check) {}

  grpc::Status CreateTable(grpc::ServerContext*, const v1::CreateTableRequest*,
                           v1::CreateTableResponse*) override;
  grpc::Status DescribeTable(grpc::ServerContext*, const v1::DescribeTableRequest*,
                             v1::DescribeTableResponse*) override;
  grpc::Status AlterTable(grpc::ServerContext*, const v1::AlterTableRequest*,
                          v1::AlterTableResponse*) override;
  grpc::Status DropPartition(grpc::ServerContext*, const v1::DropPartitionRequest*,
                             v1::DropPartitionResponse*) override;
  grpc::Status RegisterWriter(grpc::ServerContext*, const v1::RegisterWriterRequest*,
                              v1::RegisterWriterResponse*) override;
  grpc::ServerBidiReactor<v1::WriteRequest, v1::WriteResponse>* Write(
      grpc::CallbackServerContext*) override;
  grpc::Status PrepareCommit(grpc::ServerContext*, const v1::PrepareCommitRequest*,
                             v1::Committable*) override;
  grpc::Status Commit(grpc::ServerContext*, const v1::CommitRequest*, v1::CommitResponse*) override;
  grpc::Status Abort(grpc::ServerContext*, const v1::AbortRequest*, v1::AbortResponse*) override;
  grpc::Status Scan(grpc::ServerContext*, const v1::ScanRequest*,
                    grpc::ServerWriter<v1::ScanResponse>*) override;
  grpc::Status Get(grpc::ServerContext*, const v1::GetRequest*, v1::GetResponse*) override;
  grpc::Status Changes(grpc::ServerContext*, const v1::ChangesRequest*,
                       grpc::ServerWriter<v1::ScanResponse>*) override;
  grpc::Status History(grpc::ServerContext*, const v1::HistoryRequest*,
                       v1::HistoryResponse*) override;
  grpc::Status FollowChanges(grpc::ServerContext*, const v1::FollowChangesRequest*,
                             grpc::ServerWriter<v1::ScanResponse>*) override;

 private:
  v1::DeltaSidecar::WithCallbackMethod_Write<v1::DeltaSidecar::Service>* const inner_;
  const BearerTokenCheck* const check_;
};

}  // namespace deltasidecar::sidecar
