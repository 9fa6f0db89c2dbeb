#pragma once
// Label and field selectors as the API server parses them from ?labelSelector= and
// ?fieldSelector=. Label: "a=b,c!=d,e in (x,y),f notin (z),g,!h". Field: "a.b=c,d!=e" where
// the key is a dotted path into the object (the double accepts any path; the real server
// only a few per type, see docs/kube-double.md).
#include "kube_double/api_status.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace carplb::kubedouble {

struct Requirement {
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::Equals;
  std::vector<std::string> values;
};

class Selector {
public:
  bool empty() const { return reqs_.empty(); }
  const std::vector<Requirement>& requirements() const { return reqs_; }
  // Label selector against metadata.labels.
  bool matchesLabels(const nlohmann::json& obj) const;
  // Field selector against dotted paths of the object.
  bool matchesFields(const nlohmann::json& obj) const;

  static ApiResult<Selector> parseLabels(std::string_view text);
  static ApiResult<Selector> parseFields(std::string_view text);

private:
  std::vector<Requirement> reqs_;
};

// The string value at a dotted path ("spec.nodeName"), or nullopt-like empty+found=false.
bool fieldValue(const nlohmann::json& obj, std::string_view path, std::string& out);

}  // namespace carplb::kubedouble
