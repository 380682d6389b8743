// `voxelgate licence`: the vendor's offline licences. keygen makes the signing key pair,
// issue signs a licence for one clinic, verify checks a licence file against a public key.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "app/args.h"
#include "app/commands.h"
#include "core/clock.h"
#include "core/strings.h"
#include "crypto/crypto.h"
#include "licensing/licence_file.h"

namespace vg::app {
namespace {

constexpr const char* kLicenceHelp = R"(Usage: voxelgate licence COMMAND [options]

  keygen --out PREFIX
        writes PREFIX.key (the vendor's Ed25519 secret key, mode 0600: keep it off clinic
        machines) and PREFIX.pub (the public key voxelgate is built with:
        cmake -DVOXELGATE_LICENCE_PUBLIC_KEY=PREFIX.pub; a running server never takes another)
  issue --key PREFIX.key --tenant SLUG --installation ID --plan NAME --not-before YYYY-MM-DD --not-after YYYY-MM-DD
        [--algorithms all|ID,...] [--features annotation,export,auto_run,api_tokens]
        [--max-runs N (per calendar month, 0 = no cap)] [--out FILE]
        signs a licence for one clinic tenant of one installation (its id: voxelgate admin
        installation, also in the start-up log) (stdout without --out)
  verify FILE --public-key PREFIX.pub
        checks the signature and prints the licence; exit 1 when it does not verify or has expired
)";

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kInvalidArgument, "cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

int Fails(const std::string& message) {
  std::fprintf(stderr, "voxelgate licence: %s\n", message.c_str());
  return 1;
}

}  // namespace

int LicenceCommand(const std::vector<std::string>& argv) {
  auto args = Args::Parse(argv, {"help"});
  if (!args) return Fails(args.error().public_message);
  if (args->Has("help") || args->positional().empty()) {
    std::fputs(kLicenceHelp, stdout);
    return args->Has("help") ? 0 : 2;
  }
  const auto& words = args->positional();
  if (words[0] == "keygen") {
    auto prefix = args->Get("out");
    if (!prefix) return Fails("keygen needs --out PREFIX");
    auto pair = crypto::GenerateSigningKeyPair();
    const std::string secret = *prefix + ".key", public_key = *prefix + ".pub";
    {
      std::ofstream out(secret, std::ios::binary | std::ios::trunc);
      out << pair.secret_key_b64 << "\n";
      if (!out) return Fails("cannot write " + secret);
    }
    ::chmod(secret.c_str(), 0600);
    std::ofstream(public_key, std::ios::binary | std::ios::trunc) << pair.public_key_b64 << "\n";
    std::printf("wrote %s (secret, keep it safe) and %s (public)\n", secret.c_str(), public_key.c_str());
    return 0;
  }
  if (words[0] == "issue") {
    auto key_file = args->Get("key");
    if (!key_file) return Fails("issue needs --key PREFIX.key");
    auto key = ReadText(*key_file);
    if (!key) return Fails(key.error().public_message);
    licensing::LicenceRequest request;
    request.tenant = args->Get("tenant").value_or("");
    request.installation = args->Get("installation").value_or("");
    request.plan = args->Get("plan").value_or("");
    request.not_before = args->Get("not-before").value_or("");
    request.not_after = args->Get("not-after").value_or("");
    if (auto v = args->Get("algorithms")) request.algorithms = *v;
    if (auto v = args->Get("features")) request.features = *v;
    if (auto v = args->Get("max-runs")) request.max_runs = static_cast<std::int64_t>(ParseUint(*v).value_or(0));
    auto text = licensing::IssueLicence(request, std::string(Trim(*key)), UnixSeconds());
    if (!text) return Fails(text.error().public_message);
    if (auto out = args->Get("out")) {
      std::ofstream file(*out, std::ios::binary | std::ios::trunc);
      file << *text;
      if (!file) return Fails("cannot write " + *out);
      std::printf("wrote %s\n", out->c_str());
    } else {
      std::fputs(text->c_str(), stdout);
    }
    return 0;
  }
  if (words[0] == "verify" && words.size() == 2) {
    auto public_file = args->Get("public-key");
    if (!public_file) return Fails("verify needs --public-key PREFIX.pub");
    auto text = ReadText(words[1]);
    auto key = ReadText(*public_file);
    if (!text) return Fails(text.error().public_message);
    if (!key) return Fails(key.error().public_message);
    auto licence = licensing::ReadLicence(*text, std::string(Trim(*key)));
    if (!licence) return Fails(licence.error().public_message);
    const std::int64_t now = UnixSeconds();
    std::printf("licence %s for tenant %s, plan %s, valid %s to %s\n", licence->licence_id.c_str(),
                licence->tenant.c_str(), licence->plan.c_str(), licensing::FormatDate(licence->not_before).c_str(),
                licensing::FormatDate(licence->not_after).c_str());
    if (now >= licence->not_after) return Fails("it expired on " + licensing::FormatDate(licence->not_after));
    if (now < licence->not_before) return Fails("it is not valid before " + licensing::FormatDate(licence->not_before));
    return 0;
  }
  std::fputs(kLicenceHelp, stderr);
  return 2;
}

}  // namespace vg::app
