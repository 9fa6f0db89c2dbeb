#include "kube_double/selectors.h"

#include <algorithm>

namespace carplb::kubedouble {

namespace {

std::string trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) {
    ++b;
  }
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) {
    --e;
  }
  return std::string(s.substr(b, e - b));
}

// Split on commas that are not inside parentheses.
ApiResult<std::vector<std::string>> splitTerms(std::string_view text, const char* what) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : text) {
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) {
        return badRequest(std::string(what) + ": unbalanced ')' in \"" + std::string(text) + "\"");
      }
    }
    if (c == ',' && depth == 0) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (depth != 0) {
    return badRequest(std::string(what) + ": unbalanced '(' in \"" + std::string(text) + "\"");
  }
  out.push_back(trim(cur));
  return out;
}

bool validKey(const std::string& k) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

bool labelOf(const nlohmann::json& obj, const std::string& key, std::string& out) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) {
    return false;
  }
  auto labels = md->find("labels");
  if (labels == md->end() || !labels->is_object()) {
    return false;
  }
  auto it = labels->find(key);
  if (it == labels->end() || !it->is_string()) {
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool evaluate(const Requirement& r, bool found, const std::string& value) {
  switch (r.op) {
    case Requirement::Op::Equals:
      return found && value == r.values[0];
    case Requirement::Op::NotEquals:
      return !found || value != r.values[0];
    case Requirement::Op::In:
      return found && std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    case Requirement::Op::NotIn:
      return !found || std::find(r.values.begin(), r.values.end(), value) == r.values.end();
    case Requirement::Op::Exists:
      return found;
    case Requirement::Op::DoesNotExist:
      return !found;
  }
  return false;
}

}  // namespace

bool fieldValue(const nlohmann::json& obj, std::string_view path, std::string& out) {
  const nlohmann::json* cur = &obj;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (!cur->is_object()) {
      return false;
    }
    auto it = cur->find(part);
    if (it == cur->end()) {
      return false;
    }
    cur = &*it;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  if (cur->is_string()) {
    out = cur->get<std::string>();
  } else if (cur->is_null()) {
    out.clear();
  } else {
    out = cur->dump();
  }
  return true;
}

ApiResult<Selector> Selector::parseLabels(std::string_view text) {
  Selector sel;
  if (trim(text).empty()) {
    return sel;
  }
  auto terms = splitTerms(text, "labelSelector");
  if (!terms) {
    return terms.error();
  }
  for (const auto& term : terms.value()) {
    auto fail = [&](const std::string& why) {
      return badRequest("labelSelector: unable to parse requirement \"" + term + "\": " + why);
    };
    if (term.empty()) {
      return fail("empty requirement");
    }
    Requirement r;
    size_t pos;
    if (term[0] == '!') {
      r.key = trim(std::string_view(term).substr(1));
      r.op = Requirement::Op::DoesNotExist;
    } else if ((pos = term.find("!=")) != std::string::npos) {
      r.key = trim(std::string_view(term).substr(0, pos));
      r.op = Requirement::Op::NotEquals;
      r.values.push_back(trim(std::string_view(term).substr(pos + 2)));
    } else if ((pos = term.find("==")) != std::string::npos) {
      r.key = trim(std::string_view(term).substr(0, pos));
      r.values.push_back(trim(std::string_view(term).substr(pos + 2)));
    } else if ((pos = term.find('=')) != std::string::npos) {
      r.key = trim(std::string_view(term).substr(0, pos));
      r.values.push_back(trim(std::string_view(term).substr(pos + 1)));
    } else if ((pos = term.find('(')) != std::string::npos) {
      std::string head = trim(std::string_view(term).substr(0, pos));
      size_t sp = head.find_last_of(" \t");
      if (sp == std::string::npos || term.back() != ')') {
        return fail("expected \"key in (v1,v2)\" or \"key notin (v1,v2)\"");
      }
      std::string op = head.substr(sp + 1);
      r.key = trim(std::string_view(head).substr(0, sp));
      if (op == "in") {
        r.op = Requirement::Op::In;
      } else if (op == "notin") {
        r.op = Requirement::Op::NotIn;
      } else {
        return fail("unknown operator \"" + op + "\"");
      }
      std::string inner = term.substr(pos + 1, term.size() - pos - 2);
      size_t s = 0;
      while (true) {
        size_t c = inner.find(',', s);
        r.values.push_back(trim(std::string_view(inner).substr(s, c == std::string::npos ? std::string::npos : c - s)));
        if (c == std::string::npos) {
          break;
        }
        s = c + 1;
      }
    } else {
      r.key = term;
      r.op = Requirement::Op::Exists;
    }
    if (!validKey(r.key)) {
      return fail("invalid label key \"" + r.key + "\"");
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

ApiResult<Selector> Selector::parseFields(std::string_view text) {
  Selector sel;
  if (trim(text).empty()) {
    return sel;
  }
  auto terms = splitTerms(text, "fieldSelector");
  if (!terms) {
    return terms.error();
  }
  for (const auto& term : terms.value()) {
    Requirement r;
    size_t pos;
    if ((pos = term.find("!=")) != std::string::npos) {
      r.op = Requirement::Op::NotEquals;
      r.key = trim(std::string_view(term).substr(0, pos));
      r.values.push_back(trim(std::string_view(term).substr(pos + 2)));
    } else if ((pos = term.find("==")) != std::string::npos) {
      r.key = trim(std::string_view(term).substr(0, pos));
      r.values.push_back(trim(std::string_view(term).substr(pos + 2)));
    } else if ((pos = term.find('=')) != std::string::npos) {
      r.key = trim(std::string_view(term).substr(0, pos));
      r.values.push_back(trim(std::string_view(term).substr(pos + 1)));
    } else {
      return badRequest("fieldSelector: invalid selector \"" + term + "\": expected key=value or key!=value");
    }
    if (!validKey(r.key)) {
      return badRequest("fieldSelector: invalid field path \"" + r.key + "\"");
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool Selector::matchesLabels(const nlohmann::json& obj) const {
  for (const auto& r : reqs_) {
    std::string v;
    bool found = labelOf(obj, r.key, v);
    if (!evaluate(r, found, v)) {
      return false;
    }
  }
  return true;
}

bool Selector::matchesFields(const nlohmann::json& obj) const {
  for (const auto& r : reqs_) {
    std::string v;
    bool found = fieldValue(obj, r.key, v);
    // A missing field compares as the empty string, like the real field label conversion.
    if (!found) {
      v.clear();
    }
    if (!evaluate(r, true, v)) {
      return false;
    }
  }
  return true;
}

}  // namespace carplb::kubedouble
