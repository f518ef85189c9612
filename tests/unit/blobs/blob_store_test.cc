// One contract suite for every BlobStore implementation, then what only the
// local directory store promises (its on-disk layout, staging files).
#include "blobs/blob_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../temp_dir.h"

namespace bastion::blobs {
namespace {

using test::TempDir;

std::string Pattern(std::size_t size, int seed) {
  std::string s;
  s.reserve(size);
  std::uint32_t x = static_cast<std::uint32_t>(seed) * 2654435761u + 1;
  for (std::size_t i = 0; i < size; ++i) {
    x = x * 1664525u + 1013904223u;
    s.push_back(static_cast<char>(x >> 24));
  }
  return s;
}

std::string KeyOf(std::string_view content) { return HexEncode(Sha256::Of(content)); }

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<BlobStore>(const std::filesystem::path& root)> open;
};

void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

class BlobStoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(staging_.Prepare().ok());
    store_ = GetParam().open(dir_ / "blobs");
    ASSERT_NE(store_, nullptr);
  }

  Result<BlobKey> Put(std::string_view content, std::size_t chunk = 65536) {
    BASTION_ASSIGN_OR_RETURN(auto staged, staging_.Create());
    for (std::size_t pos = 0; pos < content.size(); pos += chunk) {
      std::string_view piece = content.substr(pos, chunk);
      BASTION_RETURN_IF_ERROR(staged->Append(piece.data(), piece.size()));
    }
    return store_->Put(*staged);
  }

  std::string ReadAll(const BlobKey& key, std::size_t buffer_size = 4096) {
    auto reader = store_->Open(key);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return {};
    std::string out;
    std::vector<char> buf(buffer_size);
    for (;;) {
      auto n = (*reader)->Read(buf);
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      if (!n.ok() || *n == 0) break;
      EXPECT_LE(*n, buf.size());
      out.append(buf.data(), *n);
    }
    EXPECT_EQ((*reader)->size(), out.size());
    return out;
  }

  std::vector<BlobKey> AllKeys() {
    std::vector<BlobKey> keys;
    Status s = store_->ForEach([&](const BlobKey& k) {
      keys.push_back(k);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return keys;
  }

  TempDir dir_;
  // The production layout (cli/stack.h): staging inside the store root, so
  // staged files can be link(2)ed into place.
  StagingArea staging_{dir_ / "blobs" / "staging"};
  std::unique_ptr<BlobStore> store_;
};

TEST_P(BlobStoreContractTest, PutReturnsTheSha256OfTheContent) {
  std::string content = "DICM and then some bytes";
  auto key = Put(content);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->hex(), KeyOf(content));
  EXPECT_EQ(key->hex(), "" + HexEncode(Sha256::Of("DICM and then some bytes")));
}

TEST_P(BlobStoreContractTest, PutSealsTheStagedObject) {
  auto staged = staging_.Create();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE((*staged)->Append("abc", 3).ok());
  auto key = store_->Put(**staged);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE((*staged)->sealed());
  EXPECT_EQ((*staged)->size(), 3u);
  EXPECT_EQ(HexEncode((*staged)->digest()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(key->hex(), HexEncode((*staged)->digest()));
}

TEST_P(BlobStoreContractTest, SameContentTwiceIsStoredOnce) {
  std::string content = Pattern(10000, 1);
  auto a = Put(content);
  auto b = Put(content, 333);  // different chunking, same bytes
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*a, *b);
  auto keys = AllKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], *a);
  EXPECT_EQ(ReadAll(*a), content);
}

TEST_P(BlobStoreContractTest, OpenStreamsBackIdenticalBytes) {
  std::string content = Pattern(300 * 1024 + 7, 2);
  content[5] = '\0';
  auto key = Put(content);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(ReadAll(*key, 4096), content);
  EXPECT_EQ(ReadAll(*key, 7), content);
  EXPECT_EQ(ReadAll(*key, 1 << 20), content);
}

TEST_P(BlobStoreContractTest, EmptyObject) {
  auto key = Put("");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ReadAll(*key), "");
}

TEST_P(BlobStoreContractTest, ReadersAreIndependent) {
  std::string content = Pattern(20000, 3);
  auto key = Put(content);
  ASSERT_TRUE(key.ok());
  auto r1 = store_->Open(*key);
  auto r2 = store_->Open(*key);
  ASSERT_TRUE(r1.ok());
  ASSERT_TRUE(r2.ok());
  std::vector<char> buf(100);
  ASSERT_EQ(*(*r1)->Read(buf), 100u);
  EXPECT_EQ(std::string(buf.data(), 100), content.substr(0, 100));
  ASSERT_EQ(*(*r2)->Read(buf), 100u);
  EXPECT_EQ(std::string(buf.data(), 100), content.substr(0, 100));
  ASSERT_EQ(*(*r1)->Read(buf), 100u);
  EXPECT_EQ(std::string(buf.data(), 100), content.substr(100, 100));
}

TEST_P(BlobStoreContractTest, ExistsAndRemove) {
  auto key = Put("to be removed");
  ASSERT_TRUE(key.ok());
  auto other = Put("to be kept");
  ASSERT_TRUE(other.ok());
  auto exists = store_->Exists(*key);
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);

  ASSERT_TRUE(store_->Remove(*key).ok());
  exists = store_->Exists(*key);
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
  auto open = store_->Open(*key);
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), Code::kNotFound);
  EXPECT_TRUE(*store_->Exists(*other));
  auto keys = AllKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], *other);

  // Removing again is harmless, and the content can be stored again.
  EXPECT_TRUE(store_->Remove(*key).ok());
  auto again = Put("to be removed");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *key);
  EXPECT_TRUE(*store_->Exists(*key));
}

TEST_P(BlobStoreContractTest, RemoveOfAKeyNeverStoredSucceeds) {
  auto never = BlobKey::FromHex(KeyOf("never stored"));
  ASSERT_TRUE(never.has_value());
  EXPECT_FALSE(*store_->Exists(*never));
  Status s = store_->Remove(*never);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(BlobStoreContractTest, OpenOfAMissingKeyIsNotFound) {
  auto never = BlobKey::FromHex(KeyOf("missing"));
  ASSERT_TRUE(never.has_value());
  auto r = store_->Open(*never);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_P(BlobStoreContractTest, ForEachListsEverything) {
  std::set<std::string> expected;
  for (int i = 0; i < 40; ++i) {
    std::string content = "object " + std::to_string(i);
    auto key = Put(content);
    ASSERT_TRUE(key.ok());
    expected.insert(key->hex());
  }
  std::multiset<std::string> seen;
  for (const auto& k : AllKeys()) seen.insert(k.hex());
  EXPECT_EQ(seen.size(), expected.size()) << "a key was visited twice or missed";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), expected);
}

TEST_P(BlobStoreContractTest, ForEachOnAnEmptyStore) {
  EXPECT_TRUE(AllKeys().empty());
}

TEST_P(BlobStoreContractTest, ForEachStopsAtTheFirstFailure) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put("x" + std::to_string(i)).ok());
  int visits = 0;
  Status s = store_->ForEach([&](const BlobKey&) {
    ++visits;
    return Status(Code::kCorrupt, "stop here");
  });
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_EQ(visits, 1);
}

TEST_P(BlobStoreContractTest, FlushSucceeds) {
  EXPECT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(Put("a").ok());
  ASSERT_TRUE(Put("b").ok());
  EXPECT_TRUE(store_->Flush().ok());
  EXPECT_TRUE(store_->Flush().ok());
}

TEST_P(BlobStoreContractTest, ConcurrentPuts) {
  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> keys(kThreads);
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Half the objects are the same across threads.
        std::string content = i % 2 == 0 ? "shared " + std::to_string(i) : "own " + std::to_string(t * 100 + i);
        auto key = Put(content);
        if (!key.ok() || key->hex() != KeyOf(content)) {
          ++failures;
        } else {
          keys[t].push_back(key->hex());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(store_->Flush().ok());
  // 5 shared + 4 * 5 own.
  EXPECT_EQ(AllKeys().size(), 5u + kThreads * 5u);
}

TEST_P(BlobStoreContractTest, LocalPathIsTheObjectWhenThereIsOne) {
  std::string content = "local?";
  auto key = Put(content);
  ASSERT_TRUE(key.ok());
  auto path = store_->LocalPath(*key);
  if (path) {
    EXPECT_EQ(test::ReadBytes(*path), content);
  }
}

TEST_P(BlobStoreContractTest, AvailableBytesAnswers) {
  auto available = store_->AvailableBytes();
  ASSERT_TRUE(available.ok()) << available.status().ToString();
  EXPECT_GT(*available, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    AllStores, BlobStoreContractTest,
    ::testing::Values(StoreFactory{"Local", [](const std::filesystem::path& root) { return OpenLocalBlobStore(root); }},
                      StoreFactory{"Memory", [](const std::filesystem::path&) { return NewMemoryBlobStore(); }}),
    [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

// --- keys ---

TEST(BlobKeyTest, FromHexValidates) {
  std::string good = KeyOf("x");
  auto key = BlobKey::FromHex(good);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->hex(), good);

  std::string upper = good;
  for (char& c : upper)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  ASSERT_NE(upper, good);
  EXPECT_FALSE(BlobKey::FromHex(upper).has_value());
  EXPECT_FALSE(BlobKey::FromHex(good.substr(0, 63)).has_value());
  EXPECT_FALSE(BlobKey::FromHex(good + "0").has_value());
  EXPECT_FALSE(BlobKey::FromHex("../" + good.substr(0, 61)).has_value());
  EXPECT_FALSE(BlobKey::FromHex(good.substr(0, 60) + "/../").has_value());
  EXPECT_FALSE(BlobKey::FromHex(good.substr(0, 63) + "g").has_value());
  EXPECT_FALSE(BlobKey::FromHex("").has_value());
  EXPECT_FALSE(BlobKey::FromHex(std::string(good.substr(0, 63)) + '\0').has_value());
}

TEST(BlobKeyTest, FromDigestAndOrdering) {
  auto a = BlobKey::FromDigest(Sha256::Of("a"));
  auto b = BlobKey::FromDigest(Sha256::Of("b"));
  EXPECT_EQ(a.hex(), KeyOf("a"));
  EXPECT_EQ(a, *BlobKey::FromHex(KeyOf("a")));
  EXPECT_NE(a, b);
  EXPECT_EQ(a < b, a.hex() < b.hex());
}

// --- the local directory store ---

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(staging_.Prepare().ok());
    store_ = OpenLocalBlobStore(dir_ / "blobs");
  }

  TempDir dir_;
  // The production layout (cli/stack.h): staging inside the store root, so
  // staged files can be link(2)ed into place.
  StagingArea staging_{dir_ / "blobs" / "staging"};
  std::unique_ptr<BlobStore> store_;
};

// The on-disk layout (docs/architecture.md, "Stored objects"):
// <root>/objects/<first 2 hex digits>/<64 hex digits>.dcm
std::filesystem::path DocumentedPath(const std::filesystem::path& root, const std::string& h) {
  return root / "objects" / h.substr(0, 2) / (h + ".dcm");
}

TEST_F(LocalStoreTest, ObjectLandsAtItsDocumentedPath) {
  std::string content = Pattern(5000, 9);
  auto staged = staging_.Create();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE((*staged)->Append(content.data(), content.size()).ok());
  auto key = store_->Put(**staged);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  const std::string& h = key->hex();
  auto expected = DocumentedPath(dir_ / "blobs", h);
  EXPECT_TRUE(std::filesystem::is_regular_file(expected)) << expected;
  EXPECT_EQ(test::ReadBytes(expected), content);
  auto local = store_->LocalPath(*key);
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(*local, expected);
  ASSERT_TRUE(store_->Flush().ok());
}

TEST_F(LocalStoreTest, MemoryStoreHasNoLocalPath) {
  auto memory = NewMemoryBlobStore();
  auto staged = staging_.Create();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE((*staged)->Append("m", 1).ok());
  auto key = memory->Put(**staged);
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(memory->LocalPath(*key).has_value());
}

TEST_F(LocalStoreTest, StagedFileIsGoneOnceTheStagedObjectIsDestroyed) {
  std::filesystem::path staged_path;
  {
    auto staged = staging_.Create();
    ASSERT_TRUE(staged.ok());
    staged_path = (*staged)->path();
    EXPECT_EQ(staged_path.parent_path(), staging_.dir());
    EXPECT_TRUE(std::filesystem::exists(staged_path));
    ASSERT_TRUE((*staged)->Append("payload", 7).ok());
    auto key = store_->Put(**staged);
    ASSERT_TRUE(key.ok());
  }
  EXPECT_FALSE(std::filesystem::exists(staged_path));
  EXPECT_TRUE(test::FilesIn(staging_.dir()).empty());
  // The stored object survives the staged file's removal.
  auto key = BlobKey::FromHex(KeyOf("payload"));
  ASSERT_TRUE(key.has_value());
  EXPECT_TRUE(*store_->Exists(*key));
  EXPECT_EQ(test::ReadBytes(*store_->LocalPath(*key)), "payload");
}

TEST_F(LocalStoreTest, AbandonedStagedObjectIsRemoved) {
  std::filesystem::path staged_path;
  {
    auto staged = staging_.Create();
    ASSERT_TRUE(staged.ok());
    staged_path = (*staged)->path();
    ASSERT_TRUE((*staged)->Append("half an object", 14).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(staged_path));
}

TEST_F(LocalStoreTest, ConsumedStagedObjectIsLeftAlone) {
  std::filesystem::path staged_path;
  {
    auto staged = staging_.Create();
    ASSERT_TRUE(staged.ok());
    staged_path = (*staged)->path();
    (*staged)->MarkConsumed();
  }
  EXPECT_TRUE(std::filesystem::exists(staged_path));
}

TEST_F(LocalStoreTest, StagedFilesAreUniqueAndPrivate) {
  auto a = staging_.Create();
  auto b = staging_.Create();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_NE((*a)->path(), (*b)->path());
  struct stat st {};
  ASSERT_EQ(::stat((*a)->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(LocalStoreTest, SealedObjectRefusesAppends) {
  auto staged = staging_.Create();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE((*staged)->Append("ab", 2).ok());
  ASSERT_TRUE((*staged)->Seal().ok());
  EXPECT_TRUE((*staged)->Seal().ok());  // idempotent
  EXPECT_EQ((*staged)->Append("c", 1).code(), Code::kInternal);
  EXPECT_EQ((*staged)->size(), 2u);
  EXPECT_EQ(HexEncode((*staged)->digest()), KeyOf("ab"));
}

TEST_F(LocalStoreTest, AvailableBytesIsWhatTheFileSystemSays) {
  struct statvfs st {};
  ASSERT_EQ(::statvfs(dir_.path().c_str(), &st), 0);
  const std::uint64_t expected = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  auto available = store_->AvailableBytes();
  ASSERT_TRUE(available.ok()) << available.status().ToString();
  // Other processes write meanwhile: the same within 256 MiB.
  const std::uint64_t slack = 256u << 20;
  EXPECT_LE(*available, expected + slack);
  EXPECT_GE(*available + slack, expected);
}

TEST_F(LocalStoreTest, DiscardedObjectIsEmptiedAndRefusesMore) {
  std::string content = Pattern(300000, 5);
  auto staged = staging_.Create();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE((*staged)->Append(content.data(), content.size()).ok());
  std::filesystem::path path = (*staged)->path();
  (*staged)->Discard();
  EXPECT_EQ(std::filesystem::file_size(path), 0u) << "the disk space is given back at once";
  EXPECT_EQ((*staged)->Append("x", 1).code(), Code::kInternal);
  EXPECT_EQ((*staged)->Seal().code(), Code::kInternal);
  staged->reset();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(LocalStoreTest, LargeObjectsAreHashedRightInAnyChunking) {
  // The key must not depend on how the bytes arrived. Chunk sizes: a DIMSE
  // PDV's, odd ones, large ones (writeback is started every 256 KiB).
  const std::uint64_t queue = 4 << 20;
  for (std::vector<std::size_t> chunks : std::vector<std::vector<std::size_t>>{
           {131072, 131072, 131072, 131072, 13},
           {1, 131071, 1, 7, 99999, 300000},
           {queue + 1, 17, queue * 2},
           {200, 131072 - 200, 1}}) {
    std::string content;
    auto staged = staging_.Create();
    ASSERT_TRUE(staged.ok());
    int seed = 1;
    for (std::size_t n : chunks) {
      std::string part = Pattern(n, seed++);
      ASSERT_TRUE((*staged)->Append(part.data(), part.size()).ok());
      content += part;
    }
    auto key = store_->Put(**staged);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(key->hex(), KeyOf(content)) << "chunks: " << chunks.size() << ", " << content.size() << " bytes";
    EXPECT_EQ((*staged)->size(), content.size());
    EXPECT_EQ(test::ReadBytes(*store_->LocalPath(*key)), content);
  }
}

TEST_F(LocalStoreTest, AbandonedLargeObjectIsRemoved) {
  // A peer that aborts mid-object, with writeback already started.
  std::filesystem::path staged_path;
  {
    auto staged = staging_.Create();
    ASSERT_TRUE(staged.ok());
    staged_path = (*staged)->path();
    std::string part = Pattern(1 << 20, 3);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE((*staged)->Append(part.data(), part.size()).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(staged_path));
}

TEST_F(LocalStoreTest, TheFanOutDirectoriesExistOnceTheStoreIsOpen) {
  // Made at open, so that no store pays a mkdir and its parent's fsync.
  auto count_dirs = [&] {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "blobs" / "objects")) n += e.is_directory();
    return n;
  };
  EXPECT_EQ(count_dirs(), 256u);
  EXPECT_TRUE(std::filesystem::is_directory(dir_ / "blobs" / "objects" / "00"));
  EXPECT_TRUE(std::filesystem::is_directory(dir_ / "blobs" / "objects" / "ff"));
  // Opening an existing store again changes nothing.
  auto reopened = OpenLocalBlobStore(dir_ / "blobs");
  EXPECT_EQ(count_dirs(), 256u);
}

TEST_F(LocalStoreTest, RemoveLeftoversRemovesOnlyUnlockedFiles) {
  auto leftover = staging_.dir() / "0123456789abcdef01234567.part";
  test::WriteBytes(leftover, "from a process that died");
  auto live = staging_.Create();
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE((*live)->Append("still ", 6).ok());

  auto removed = staging_.RemoveLeftovers();
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_TRUE(std::filesystem::exists((*live)->path()));

  // The live object is unharmed and can still be stored.
  ASSERT_TRUE((*live)->Append("writing", 7).ok());
  auto key = store_->Put(**live);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->hex(), KeyOf("still writing"));
  EXPECT_EQ(test::ReadBytes(*store_->LocalPath(*key)), "still writing");

  auto again = staging_.RemoveLeftovers();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

TEST_F(LocalStoreTest, ForEachIgnoresFilesThatAreNotObjects) {
  auto key = [&] {
    auto staged = staging_.Create();
    EXPECT_TRUE((*staged)->Append("real", 4).ok());
    return *store_->Put(**staged);
  }();
  auto objects = dir_ / "blobs" / "objects";
  std::filesystem::create_directories(objects / "ab" / "cd");
  test::WriteBytes(objects / "README.txt", "not an object");
  test::WriteBytes(objects / "ab" / "cd" / "notakey.dcm", "not an object");
  // A well-formed key in the wrong directory is not ours either.
  std::string misplaced = KeyOf("misplaced");
  test::WriteBytes(objects / "ab" / "cd" / (misplaced + ".dcm"), "misplaced");
  test::WriteBytes(objects / (misplaced + ".dcm"), "misplaced");
  auto real = store_->LocalPath(key);
  ASSERT_TRUE(real.has_value());
  test::WriteBytes(real->parent_path() / (key.hex() + ".dcm.tmp"), "x");
  test::WriteBytes(real->parent_path() / (KeyOf("other") + ".txt"), "x");

  std::vector<std::string> seen;
  ASSERT_TRUE(store_->ForEach([&](const BlobKey& k) {
                       seen.push_back(k.hex());
                       return Status::Ok();
                     })
                  .ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], key.hex());
}

TEST_F(LocalStoreTest, TwoStoresOnOneDirectory) {
  // Two processes (serve and import) sharing the store.
  auto other = OpenLocalBlobStore(dir_ / "blobs");
  StagingArea other_staging(dir_ / "blobs" / "staging");
  auto a = staging_.Create();
  auto b = other_staging.Create();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*a)->Append("same", 4).ok());
  ASSERT_TRUE((*b)->Append("same", 4).ok());
  auto ka = store_->Put(**a);
  auto kb = other->Put(**b);
  ASSERT_TRUE(ka.ok()) << ka.status().ToString();
  ASSERT_TRUE(kb.ok()) << kb.status().ToString();
  EXPECT_EQ(*ka, *kb);
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(other->Flush().ok());
  EXPECT_TRUE(*other->Exists(*ka));
  int count = 0;
  ASSERT_TRUE(store_->ForEach([&](const BlobKey&) {
                       ++count;
                       return Status::Ok();
                     })
                  .ok());
  EXPECT_EQ(count, 1);
}

TEST_F(LocalStoreTest, ForEachOnAStoreThatWasNeverWritten) {
  int count = 0;
  ASSERT_TRUE(store_->ForEach([&](const BlobKey&) {
                       ++count;
                       return Status::Ok();
                     })
                  .ok());
  EXPECT_EQ(count, 0);
}

}  // namespace
}  // namespace bastion::blobs
