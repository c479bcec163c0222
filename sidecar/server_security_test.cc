// What can be checked without a server: which listen addresses count as
// local-only, and how token and certificate files are refused. The TLS
// handshakes and the token check of real calls are in
// tests/sidecar/test_tls.py.
#include "sidecar/server_security.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deltasidecar::sidecar {
namespace {

using ::testing::HasSubstr;

TEST(IsLocalOnlyAddress, LoopbackAndUnixSocketsAreLocal) {
  for (const char* a : {"127.0.0.1:7543", "127.1.2.3:1", "localhost:7543", "LOCALHOST:1",
                        "[::1]:7543", "[::ffff:127.0.0.1]:7543", "unix:/run/ds.sock",
                        "unix-abstract:ds", "ipv4:127.0.0.1:7543"}) {
    EXPECT_TRUE(IsLocalOnlyAddress(a)) << a;
  }
}

TEST(IsLocalOnlyAddress, EverythingElseIsReachableFromTheNetwork) {
  for (const char* a : {"0.0.0.0:7543", "[::]:7543", ":7543", "10.1.2.3:7543", "[fe80::1]:7543",
                        "sidecar.example:7543", "128.0.0.1:7543", "[::ffff:10.0.0.1]:1", "[::1"}) {
    EXPECT_FALSE(IsLocalOnlyAddress(a)) << a;
  }
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/server_security_test-XXXXXX";
    int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = name;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(BearerTokenCheck, ReadsTheTokenWithoutSurroundingWhitespace) {
  TempFile f("  s3cr3t-T0ken\n");
  EXPECT_TRUE(BearerTokenCheck::FromFile(f.path()).ok());
}

TEST(BearerTokenCheck, RefusesUnreadableEmptyOrUnprintableTokensNamingTheFile) {
  auto missing = BearerTokenCheck::FromFile("/nonexistent/token");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("--auth-token-file /nonexistent/token"));
  EXPECT_THAT(missing.status().message(), HasSubstr("No such file"));

  TempFile empty(" \n");
  auto e = BearerTokenCheck::FromFile(empty.path());
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr(empty.path()));
  EXPECT_THAT(e.status().message(), HasSubstr("empty"));

  TempFile spaced("two words\n");
  auto s = BearerTokenCheck::FromFile(spaced.path());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("byte 4"));
  EXPECT_THAT(s.status().message(), ::testing::Not(HasSubstr("two")));  // no token in logs
}

TEST(MakeServerCredentials, PlaintextWithoutFiles) {
  EXPECT_TRUE(MakeServerCredentials({}).ok());
}

TEST(MakeServerCredentials, RefusesIncompleteFlagCombinations) {
  auto only_cert = MakeServerCredentials({.cert_file = "/c.pem", .key_file = "", .client_ca_file = ""});
  ASSERT_FALSE(only_cert.ok());
  EXPECT_EQ(only_cert.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(only_cert.status().message(), HasSubstr("--tls-key"));

  auto only_ca = MakeServerCredentials({.cert_file = "", .key_file = "", .client_ca_file = "/ca.pem"});
  ASSERT_FALSE(only_ca.ok());
  EXPECT_THAT(only_ca.status().message(), HasSubstr("--tls-client-ca needs --tls-cert"));
}

TEST(MakeServerCredentials, RefusesFilesWithoutPem) {
  TempFile junk("not a certificate\n");
  auto r = MakeServerCredentials({.cert_file = junk.path(), .key_file = junk.path(), .client_ca_file = ""});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("--tls-cert " + junk.path()));
  EXPECT_THAT(r.status().message(), HasSubstr("no PEM certificate"));

  auto missing = MakeServerCredentials({.cert_file = "/nonexistent/c.pem", .key_file = "/k", .client_ca_file = ""});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("--tls-cert /nonexistent/c.pem: cannot read"));
}

}  // namespace
}  // namespace deltasidecar::sidecar
