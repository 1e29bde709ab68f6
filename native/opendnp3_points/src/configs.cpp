// Registers opendnp3's per-point configuration structs with pybind11, so that the maps of the
// yadnp3 binding's DatabaseConfig (binary_input, analog_input, ...), which it exposes but whose
// element types it never registered ("Unregistered type: opendnp3::BinaryConfig"), can be read and
// written from Python. pybind11 finds a type by its C++ name across extensions that share its
// internals, so these definitions must carry opendnp3's names and match its layout exactly
// (opendnp3 3.1, outstation/MeasurementConfig.h, as built into yadnp3 3.2.1.4):
//
//   StaticConfig   { static_variation_t svariation; }                        -- 1 byte enum
//   EventConfig    : StaticConfig { PointClass clazz; event_variation_t evariation; }
//   DeadbandConfig : EventConfig  { value_t deadband; }                       -- double for analogs
//
// The Python side checks the layout against the binding's own defaults before using it.
#include <pybind11/pybind11.h>

#include <cstdint>

namespace py = pybind11;

namespace opendnp3 {
struct BinaryConfig {
    uint8_t svariation, clazz, evariation;
};
struct BOStatusConfig {
    uint8_t svariation, clazz, evariation;
};
struct AnalogConfig {
    uint8_t svariation, clazz, evariation;
    double deadband;
};
struct AOStatusConfig {
    uint8_t svariation, clazz, evariation;
    double deadband;
};
}  // namespace opendnp3

static_assert(sizeof(opendnp3::BinaryConfig) == 3, "opendnp3 EventConfig is three one-byte enums");
static_assert(sizeof(opendnp3::AnalogConfig) == 16, "opendnp3 DeadbandConfig<double> is 16 bytes");

template <class T> py::class_<T> event_config(py::module_& m, const char* name) {
    return py::class_<T>(m, name)
        .def(py::init<const T&>(), "A copy, to configure one point from another's settings.")
        .def_readwrite("svariation", &T::svariation)
        .def_readwrite("clazz", &T::clazz)
        .def_readwrite("evariation", &T::evariation);
}

PYBIND11_MODULE(_configs, m) {
    event_config<opendnp3::BinaryConfig>(m, "BinaryConfig");
    event_config<opendnp3::BOStatusConfig>(m, "BOStatusConfig");
    event_config<opendnp3::AnalogConfig>(m, "AnalogConfig").def_readwrite("deadband", &opendnp3::AnalogConfig::deadband);
    event_config<opendnp3::AOStatusConfig>(m, "AOStatusConfig")
        .def_readwrite("deadband", &opendnp3::AOStatusConfig::deadband);
}
