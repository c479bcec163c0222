#include "sidecar/event_log.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace deltasidecar::sidecar {
namespace {

TEST(EventLogTest, JsonLineHasTimeLevelEventThenFieldsInOrder) {
  EventLog log(LogFormat::kJson);
  std::string line = log.Format(LogLevel::kWarn, "commit",
                                {{"table", "orders"}, {"writer", "op-1/0"}, {"epoch", int64_t{3}},
                                 {"checkpoint", int64_t{-1}}, {"done", true}, {"seconds", 0.25}},
                                {});
  auto j = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"time", "level", "event", "table", "writer", "epoch",
                                            "checkpoint", "done", "seconds"}));
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["event"], "commit");
  EXPECT_EQ(j["writer"], "op-1/0");
  EXPECT_EQ(j["epoch"], 3);
  EXPECT_EQ(j["checkpoint"], -1);
  EXPECT_EQ(j["done"], true);
  EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 0.25);
  EXPECT_EQ(j["time"].get<std::string>().size(), std::string("2026-01-02T03:04:05.678Z").size());
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(EventLogTest, JsonEscapesEverythingAndSurvivesInvalidUtf8) {
  EventLog log(LogFormat::kJson);
  std::string nasty = "a \"quoted\"\nline\\ with \x01 and \xff bytes";
  std::string line = log.Format(LogLevel::kInfo, "x", {{"error", nasty}}, nasty);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  std::string error = j["error"];
  EXPECT_EQ(error.rfind("a \"quoted\"\nline\\ with \x01 and ", 0), 0u) << error;
  EXPECT_NE(error.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD for the bad byte
  EXPECT_EQ(j["message"], j["error"]);
}

TEST(EventLogTest, TextLineQuotesOnlyWhatNeedsIt) {
  EventLog log(LogFormat::kText);
  EXPECT_EQ(log.Format(LogLevel::kInfo, "commit",
                       {{"table", "orders"}, {"writer", "op 1"}, {"checkpoint", int64_t{7}},
                        {"note", "a=b"}, {"empty", ""}},
                       {}),
            "delta-sidecar: commit table=orders writer=\"op 1\" checkpoint=7 note=\"a=b\" empty=\"\"");
  EXPECT_EQ(log.Format(LogLevel::kWarn, "fenced", {{"epoch", int64_t{1}}}, {}),
            "delta-sidecar: warn: fenced epoch=1");
  // A line with a message reads as the sidecar's lines always did.
  EXPECT_EQ(log.Format(LogLevel::kInfo, "serving", {{"address", "x"}}, "serving on x"),
            "delta-sidecar: serving on x");
}

TEST(EventLogTest, LogWritesWholeLines) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EventLog log(LogFormat::kJson, f);
  log.Info("a", {{"n", int64_t{1}}});
  log.Warn("b", {});
  std::rewind(f);
  char buf[512];
  int lines = 0;
  while (std::fgets(buf, sizeof buf, f) != nullptr) {
    EXPECT_NO_THROW(nlohmann::json::parse(std::string(buf)));
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  std::fclose(f);
}

TEST(EventLogTest, ParseLogFormat) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  auto bad = ParseLogFormat("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("xml"), std::string::npos);
}

}  // namespace
}  // namespace deltasidecar::sidecar
