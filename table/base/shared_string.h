// An immutable string whose copies share one buffer: copying costs a
// reference count, not an allocation. For strings copied far more often than
// they are made, such as a data file's name, which every snapshot's list of a
// bucket's files repeats (a multi-bucket file's name once per bucket).
// Thread-safety: as a std::shared_ptr<const std::string>'s.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace deltasidecar {

class SharedString {
 public:
  SharedString() = default;
  SharedString(std::string s)  // NOLINT: implicit, as std::string's own conversions are
      : rep_(s.empty() ? nullptr : std::make_shared<const std::string>(std::move(s))) {}
  SharedString(std::string_view s) : SharedString(std::string(s)) {}  // NOLINT
  SharedString(const char* s) : SharedString(std::string(s)) {}        // NOLINT

  const std::string& str() const { return rep_ ? *rep_ : Empty(); }
  operator const std::string&() const { return str(); }  // NOLINT
  operator std::string_view() const { return str(); }    // NOLINT

  size_t size() const { return str().size(); }
  bool empty() const { return str().empty(); }
  const char* data() const { return str().data(); }
  const char* c_str() const { return str().c_str(); }

  friend bool operator==(const SharedString& a, const SharedString& b) {
    return a.rep_ == b.rep_ || a.str() == b.str();
  }
  friend bool operator==(const SharedString& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const SharedString& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const SharedString& a, const char* b) { return a.str() == b; }
  friend std::strong_ordering operator<=>(const SharedString& a, const SharedString& b) {
    return a.str().compare(b.str()) <=> 0;
  }
  friend std::strong_ordering operator<=>(const SharedString& a, std::string_view b) {
    return std::string_view(a.str()).compare(b) <=> 0;
  }
  friend std::ostream& operator<<(std::ostream& os, const SharedString& s) { return os << s.str(); }
  template <typename H>
  friend H AbslHashValue(H h, const SharedString& s) {
    return H::combine(std::move(h), std::string_view(s.str()));
  }
  friend std::string operator+(std::string_view a, const SharedString& b) {
    std::string out(a);
    out.append(b.str());
    return out;
  }

 private:
  static const std::string& Empty() {
    static const std::string* empty = new std::string();
    return *empty;
  }
  std::shared_ptr<const std::string> rep_;
};

}  // namespace deltasidecar

template <>
struct std::hash<deltasidecar::SharedString> {
  size_t operator()(const deltasidecar::SharedString& s) const {
    return std::hash<std::string>()(s.str());
  }
};
